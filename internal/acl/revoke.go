package acl

// Revocation is what a changed user still allows of pub/sub, for Redis 7.0's disconnection of the
// subscribers whose channel permissions an ACL SETUSER took away (ACLKillPubsubClientsIfNeeded): the
// channel patterns of every selector of the new user, pooled. A subscribed client of the user is
// disconnected when one of its channels or shard channels matches none of them, or one of its patterns
// equals none of them. Redis writes no ACL LOG entry for it. A Revocation is immutable.
type Revocation struct {
	pool Selector // only channels is used
}

// ChannelsRevoked returns the Revocation for a change of a user from old to changed, or nil when no
// subscriber of the user can be affected: changed has all channels in some selector, or the change
// leaves the user's rules as they were (Describe), or either is nil.
//
// Redis looks for a superset first, but compares the patterns by identity, so in effect it scans the
// subscribers of every user that had channel patterns; moat scans them whenever the rules changed. The
// scan's verdict is the same either way.
func ChannelsRevoked(old, changed *User) *Revocation {
	if old == nil || changed == nil || old.Describe() == changed.Describe() {
		return nil
	}
	r := &Revocation{}
	for i := 0; i <= len(changed.selectors); i++ {
		s := changed.selector(i)
		if s.allChannels {
			return nil
		}
		r.pool.channels = append(r.pool.channels, s.channels...)
	}
	return r
}

// Denies reports whether a subscription may no longer stand: a channel (pattern false) no pattern
// matches, or a PSUBSCRIBE pattern (pattern true) equal to none.
func (r *Revocation) Denies(name []byte, pattern bool) bool {
	return !r.pool.channelAllowed(name, pattern)
}
