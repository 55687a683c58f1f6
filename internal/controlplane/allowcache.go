package controlplane

import (
	"slices"
	"sync"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// allowCacheSize is how many instances' allow sets allowCache keeps: the few changed last. Compiling
// every instance at start-up does not keep a copy of every whitelist alive.
const allowCacheSize = 16

// allowCache keeps the allow sets compiled last, with the groups and bound security groups each was
// compiled from, so that a change that leaves an instance's whitelist as it was (one ACL user's rules
// among 10,000, a parameter) shares the allow set of the snapshot before rather than compiling 1,000
// entries again. Safe for concurrent use; the sets are immutable.
type allowCache struct {
	mu      sync.Mutex
	entries []allowEntry // at most allowCacheSize, the newest last
}

// allowEntry is one instance's allow set and what it was compiled from.
type allowEntry struct {
	id     string
	groups []allowlist.Group
	bound  []allowlist.Bound
	set    *allowlist.Set
}

// get returns allowlist.Compile(in.Groups, bound): the set kept for in when its groups and bound are
// the same, else a new one, which is kept.
func (c *allowCache) get(in model.Instance, bound []allowlist.Bound) *allowlist.Set {
	c.mu.Lock()
	i := slices.IndexFunc(c.entries, func(e allowEntry) bool { return e.id == in.ID })
	var e allowEntry
	if i >= 0 {
		e = c.entries[i]
	}
	c.mu.Unlock()
	if i >= 0 && sameGroups(e.groups, in.Groups) && sameBound(e.bound, bound) {
		return e.set
	}
	set := allowlist.Compile(in.Groups, bound)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = slices.DeleteFunc(c.entries, func(e allowEntry) bool { return e.id == in.ID })
	if len(c.entries) == allowCacheSize {
		c.entries = slices.Delete(c.entries, 0, 1)
	}
	c.entries = append(c.entries, allowEntry{id: in.ID, groups: in.Groups, bound: bound, set: set})
	return set
}

// forget drops what is kept of instance id.
func (c *allowCache) forget(id string) {
	c.mu.Lock()
	c.entries = slices.DeleteFunc(c.entries, func(e allowEntry) bool { return e.id == id })
	c.mu.Unlock()
}

// sameGroups reports whether a and b are the same groups: at once when they are the same slice (an
// instance's slices are immutable once stored), else entry by entry.
func sameGroups(a, b []allowlist.Group) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.EqualFunc(a, b, func(x, y allowlist.Group) bool {
		return x.Name == y.Name && x.Attribute == y.Attribute && slices.Equal(x.Entries, y.Entries)
	})
}

// sameBound reports whether a and b are the same bound security groups with the same hosts.
func sameBound(a, b []allowlist.Bound) bool {
	return slices.EqualFunc(a, b, func(x, y allowlist.Bound) bool {
		return x.SecurityGroup == y.SecurityGroup && slices.EqualFunc(x.Hosts, y.Hosts, func(h, k allowlist.Host) bool {
			return h.ID == k.ID && h.Name == k.Name && slices.Equal(h.Addrs, k.Addrs)
		})
	})
}
