package api

import (
	"time"

	"github.com/moat-dev/moat/internal/refused"
)

// RefusalSource is the part of the Runtime that reports an instance's recent refused connections
// (gateway.Activity, reached through the server). A Runtime without it answers DescribeRefusedConnections with an empty report.
type RefusalSource interface {
	// RefusedConnections returns the report of a served instance; ok=false if it is not served here.
	RefusedConnections(instanceID string) (r refused.Report, ok bool)
}

type refusalView struct {
	Address   string
	Reason    string
	Count     uint64
	FirstSeen string
	LastSeen  string
}

// describeRefusedConnections (moat) answers API3's "who was refused, why, how often" for one instance:
// the recent (address, reason) pairs with counts, most recently seen first, and refusals per minute
// over the last hour. It reads this process's in-memory recorder: it restarts empty with moat.
func describeRefusedConnections(c *call) (any, error) {
	in, err := c.loadInstance()
	if err != nil {
		return nil, err
	}
	id := in.ID
	var r refused.Report
	if src, ok := c.h.runtime.(RefusalSource); ok {
		r, _ = src.RefusedConnections(id)
	}
	list := []refusalView{}
	for _, x := range r.Refusals {
		list = append(list, refusalView{x.Addr.String(), x.Reason, x.Count, stamp(x.FirstSeen), stamp(x.LastSeen)})
	}
	counts := r.Timeline
	if counts == nil {
		counts = make([]uint64, refused.Buckets)
	}
	start := r.TimelineStart
	if start.IsZero() {
		now := time.Now()
		start = now.Truncate(refused.Bucket).Add(-(refused.Buckets - 1) * refused.Bucket)
	}
	return map[string]any{
		"InstanceId":         id,
		"TotalRefused":       r.Total,
		"RefusedConnections": map[string]any{"RefusedConnection": list},
		"Timeline": map[string]any{
			"Start":         stamp(start),
			"BucketSeconds": int(refused.Bucket / time.Second),
			"Counts":        counts,
		},
	}, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
