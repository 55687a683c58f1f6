// Package snapshot holds everything the data plane needs to serve one instance, compiled and immutable.
//
// The control plane builds a new Snapshot whole, validates it, and publishes it with one atomic store;
// the data plane only ever reads snapshots, so a failed build leaves the previous one serving.
package snapshot

import (
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/resp"
)

// Snapshot is immutable after it is published: readers on many goroutines share it without locks.
type Snapshot struct {
	// Instance is the instance ID ("r-…").
	Instance string
	// Allow is the compiled allow set (W6). A nil Allow denies every address.
	Allow *allowlist.Set
	// DropOnRevoke closes established connections whose address this snapshot no longer allows (W9).
	DropOnRevoke bool
	// Limits bound what a client may send.
	Limits resp.Limits
	// IdleTimeout closes a client connection idle this long (0: never, like redis.conf "timeout 0").
	// Connections waiting for a reply, subscribed or monitoring are not idle.
	IdleTimeout time.Duration
}
