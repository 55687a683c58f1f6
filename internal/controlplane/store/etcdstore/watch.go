package etcdstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Watch implements store.Watcher: it sends one Change per committed transaction under the prefix, in
// revision order, starting after rev (0: after the revision current when the watch starts; ViewRevision
// gives the revision a snapshot was read at). A Change's Keys are store keys, sorted. A large change
// (large.go) is one Change with every key it writes, at its commit; its keys are then reported again as
// they are applied.
//
// The watch survives a lost member or connection: it resumes after the last revision it delivered, on any
// endpoint that has a leader. When the revisions after that were compacted away, it sends a Change with
// Reset set and Revision the last revision it cannot deliver, then goes on with the changes after
// Revision: the caller must reload everything it derived from the store (a reload at any revision from
// then on is fine; the changes delivered after the Reset may repeat what the reload saw). The channel is
// closed when ctx ends or the store is closed.
func (s *Store) Watch(ctx context.Context, rev int64) <-chan store.Change {
	out := make(chan store.Change, 64)
	go s.watch(ctx, rev, out)
	return out
}

func (s *Store) watch(ctx context.Context, rev int64, out chan<- store.Change) {
	defer close(out)
	send := func(c store.Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	next := int64(0) // the first revision not yet delivered; 0: not known yet (watch from now)
	if rev > 0 {
		next = rev + 1
	}
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil && !s.isClosed() {
		// Require a leader, so that a member cut off from the quorum ends the watch and it moves to a member
		// that still has one instead of going silent.
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCreatedNotify()}
		if next > 0 {
			opts = append(opts, clientv3.WithRev(next))
		}
		for resp := range s.cli.Watch(wctx, s.prefix, opts...) {
			if resp.Created && next == 0 {
				next = resp.Header.Revision + 1
			}
			if resp.CompactRevision != 0 {
				// Revisions before CompactRevision are gone: tell the caller, then go on from there.
				if !send(store.Change{Revision: resp.CompactRevision - 1, Reset: true}) {
					break
				}
				next = resp.CompactRevision
				break
			}
			if resp.Err() != nil {
				break
			}
			backoff = 50 * time.Millisecond
			if !s.deliver(resp.Events, send, &next) {
				break
			}
		}
		cancel()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// deliver sends the events of one watch response as one Change per revision and advances next past them.
func (s *Store) deliver(events []*clientv3.Event, send func(store.Change) bool, next *int64) bool {
	for i := 0; i < len(events); {
		rev := events[i].Kv.ModRevision
		c := store.Change{Revision: rev}
		for ; i < len(events) && events[i].Kv.ModRevision == rev; i++ {
			ev := events[i]
			if k := string(ev.Kv.Key[len(s.prefix):]); k != "" {
				c.Keys = append(c.Keys, k)
			} else if ev.Type == clientv3.EventTypePut && len(ev.Kv.Value) > 0 {
				c.Keys = append(c.Keys, largeKeys(ev.Kv.Value)...) // a large change, committed (large.go)
			}
		}
		if len(c.Keys) > 0 && !send(c) {
			return false
		}
		*next = rev + 1
	}
	return true
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
