package gateway

import (
	"strings"
	"sync"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// Pub/sub and ACL changes (issue 18, item 6). When an ACL change takes channel permissions away from a
// user, Redis 7.0 disconnects at once every subscribed client of that user holding a subscription the
// new rules no longer allow (acl.ChannelsRevoked), before the change's reply is written, and writes no
// ACL LOG entry. moat does the same in Publish (killRevokedSubscribers), for a change made by ACL
// SETUSER or by the control plane.
//
// moat does not read the backend's subscriptions: the reader records the channels, patterns and shard
// channels of the subscribe and unsubscribe commands it forwards (inside MULTI, at EXEC; RESET forgets
// them). moat has judged them already, so the backend accepts them (in a cluster, a shard channel of
// another node's slot is the exception: it stays recorded until unsubscribed).

// subscriptions are the names a session subscribed to. The reader writes them; Publish reads them.
// Safe for concurrent use; the zero value is empty.
type subscriptions struct {
	mu       sync.Mutex
	channels map[string]struct{}
	patterns map[string]struct{}
	shards   map[string]struct{}
	// killed: Publish found the connection revoked while it was itself making the change; it closes
	// after its reply.
	killed bool
}

// apply records the effect of one subscribe or unsubscribe command (args, name lower case).
func (p *subscriptions) apply(name string, args [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var set *map[string]struct{}
	add := true
	switch name {
	case "subscribe", "unsubscribe":
		set = &p.channels
	case "psubscribe", "punsubscribe":
		set = &p.patterns
	case "ssubscribe", "sunsubscribe":
		set = &p.shards
	default:
		return
	}
	switch name {
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		add = false
		if len(args) < 2 {
			*set = nil
			return
		}
	}
	for _, a := range args[1:] {
		switch {
		case add && *set == nil:
			*set = map[string]struct{}{string(a): {}}
		case add:
			(*set)[string(a)] = struct{}{}
		default:
			delete(*set, string(a))
		}
	}
}

// clear forgets every subscription (RESET).
func (p *subscriptions) clear() {
	p.mu.Lock()
	p.channels, p.patterns, p.shards = nil, nil, nil
	p.mu.Unlock()
}

// revoked reports whether one of the subscriptions is one r denies.
func (p *subscriptions) revoked(r *acl.Revocation) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	denies := func(set map[string]struct{}, pattern bool) bool {
		for name := range set {
			if r.Denies([]byte(name), pattern) {
				return true
			}
		}
		return false
	}
	return denies(p.patterns, true) || denies(p.channels, false) || denies(p.shards, false)
}

// any reports whether a subscription is recorded.
func (p *subscriptions) any() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.channels)+len(p.patterns)+len(p.shards) > 0
}

// noteSubscription records a forwarded subscribe or unsubscribe command (name lower case); inside MULTI
// it waits for EXEC (multiDone).
func (st *decideState) noteSubscription(name string, c *resp.Command) {
	if st.multi {
		// name aliases decide's stack buffer: copied, so that it stays there.
		st.queuedSubs = append(st.queuedSubs, queuedSub{name: strings.Clone(name), args: cloneArgs(c.Args)})
		return
	}
	st.sess.subs.apply(name, c.Args)
}

// queuedSub is a subscribe or unsubscribe command inside MULTI, held until EXEC.
type queuedSub struct {
	name string
	args [][]byte
}

// multiDone ends a transaction for the recorded subscriptions: EXEC (exec true) applies the queued
// commands, DISCARD or a doomed EXEC drops them.
func (st *decideState) multiDone(exec bool) {
	if exec {
		for _, q := range st.queuedSubs {
			st.sess.subs.apply(q.name, q.args)
		}
	}
	st.queuedSubs = st.queuedSubs[:0]
}

// killRevokedSubscribers disconnects the subscribed connections whose user's channel permissions the
// change from old to users took away, as Redis 7.0 does. A connection inside the change itself closes
// after its reply.
func (in *Instance) killRevokedSubscribers(old, users *acl.Users) {
	if old == nil || old == users {
		return
	}
	revs := map[string]*acl.Revocation{}
	in.mu.Lock()
	var kill []*session
	for ss := range in.sessions {
		if !ss.subs.any() {
			continue
		}
		name := ss.user()
		r, seen := revs[name]
		if !seen {
			r = acl.ChannelsRevoked(old.Get(name), users.Get(name))
			revs[name] = r
		}
		if r != nil && ss.subs.revoked(r) {
			kill = append(kill, ss)
		}
	}
	in.mu.Unlock()
	for _, ss := range kill {
		in.log.Info("closing connection: its ACL user lost the permission of a channel it is subscribed to", "client", ss.peer, "user", ss.user())
		if ss.client.changingACL.Load() {
			ss.subs.mu.Lock()
			ss.subs.killed = true
			ss.subs.mu.Unlock()
			continue
		}
		ss.close()
	}
}

// subscriberKilled reports (once) that Publish found this connection's subscriptions revoked during
// its own ACL change.
func (s *session) subscriberKilled() bool {
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	k := s.subs.killed
	s.subs.killed = false
	return k
}
