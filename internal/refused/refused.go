// Package refused holds the records of refused connections that the data plane keeps and the control
// plane reports: one Record per (address, reason), and the Report of an instance's recent refusals
// with its per-minute Timeline. It owns the record types and the timeline's shape only; the recorder
// that fills them lives in the gateway (gateway.Activity).
//
// It is a leaf: it imports only the standard library, so that both the gateway and the control plane's
// API import it without the API importing the data plane.
package refused

import (
	"net/netip"
	"time"
)

// Shape of the refusal timeline: Buckets bars of Bucket each, the last hour minute by minute.
const (
	Bucket  = time.Minute
	Buckets = 60
)

// Record is one address refused for one reason.
type Record struct {
	Addr      netip.Addr
	Reason    string // one of the gateway's Reason* constants (the "reason" metric label)
	Count     uint64
	FirstSeen time.Time
	LastSeen  time.Time
}

// Report is a copy of what an instance's refusal recorder holds, taken at one moment. The zero Report
// is the report of an instance that refused nothing and is not served here.
type Report struct {
	// Refusals, most recently seen first. The recorder keeps a bounded number of pairs; Count is the
	// number of refusals since the pair was first remembered.
	Refusals []Record
	// Timeline counts refusals per Bucket, oldest first; the last element is the bucket that holds
	// Now. It has Buckets elements, or none in the zero Report.
	Timeline []uint64
	// Now is when the report was taken; TimelineStart is the start of Timeline's first bucket.
	Now, TimelineStart time.Time
	// Total counts every refusal recorded since the instance started (forgotten pairs included).
	Total uint64
}
