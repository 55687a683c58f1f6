package acl

import (
	"hash/maphash"
	"iter"
	"maps"
	"math"
	"slices"
	"sync/atomic"
)

// userMap is a set's users by name, in shards (about √n users each, by a hash of the name) shared with
// the sets copied from it: a copy (clone) shares every shard, and a change copies the one shard it
// writes, and the list of shards, unless this map made them itself since it was last copied or copied
// from (owned). A set one user away from another then costs that user's shard — ~100 users among
// 10,000 — with no step that copies every user (issue 20: a change's p99).
type userMap struct {
	shards []map[string]*User // len a power of two; a nil shard is empty
	seed   maphash.Seed
	n      int
	own    *shardOwnership // what this map may write in place; nil: nothing
}

// shardOwnership says which of a map's shards, and whether the list of them, the map made itself and
// has shared with no copy. clone sets cloned (the only field another map touches, atomically: several
// readers may copy one published set at once); the owner then starts over with nothing owned.
type shardOwnership struct {
	cloned atomic.Bool
	list   bool
	shards []bool
}

// newUserMap returns an empty map with room for size users.
func newUserMap(size int) userMap {
	k := shardCount(size)
	m := userMap{shards: make([]map[string]*User, k), seed: maphash.MakeSeed()}
	m.own = &shardOwnership{list: true, shards: make([]bool, k)}
	for i := range m.shards {
		m.shards[i] = make(map[string]*User, size/k)
		m.own.shards[i] = true
	}
	return m
}

// shardCount is how many shards suit n users: about √n users in each (at least 32), a power of two.
func shardCount(n int) int {
	per := max(32, int(math.Sqrt(float64(n))))
	k := 1
	for k*per < n {
		k *= 2
	}
	return k
}

// slot is the index of name's shard.
func (m *userMap) slot(name string) int {
	if len(m.shards) == 1 {
		return 0
	}
	return int(maphash.String(m.seed, name) & uint64(len(m.shards)-1))
}

// get returns the user, or nil.
func (m *userMap) get(name string) *User {
	if len(m.shards) == 0 {
		return nil
	}
	return m.shards[m.slot(name)][name]
}

// set adds or replaces a user.
func (m *userMap) set(name string, u *User) {
	if len(m.shards) == 0 {
		*m = newUserMap(1)
	}
	i := m.slot(name)
	if _, ok := m.shards[i][name]; !ok {
		m.n++
	}
	m.writable(i)[name] = u
	if per := max(32, len(m.shards)); m.n > 2*per*len(m.shards) {
		m.reshard()
	}
}

// del deletes a user; false when there is none.
func (m *userMap) del(name string) bool {
	if m.get(name) == nil {
		return false
	}
	m.n--
	delete(m.writable(m.slot(name)), name)
	return true
}

// writable returns shard i, copied first (with the list of shards) unless this map owns it.
func (m *userMap) writable(i int) map[string]*User {
	o := m.own
	if o == nil || o.cloned.Load() {
		o = &shardOwnership{shards: make([]bool, len(m.shards))}
		m.own = o
	}
	if !o.list {
		m.shards, o.list = slices.Clone(m.shards), true
	}
	if !o.shards[i] {
		s := maps.Clone(m.shards[i])
		if s == nil {
			s = map[string]*User{}
		}
		m.shards[i], o.shards[i] = s, true
	}
	return m.shards[i]
}

// reshard spreads the users over shardCount of them, in new shards.
func (m *userMap) reshard() {
	next := newUserMap(m.n)
	for name, u := range m.all() {
		next.set(name, u)
	}
	*m = next
}

// clone returns a copy sharing every shard. m is not changed but for marking its shards shared.
func (m *userMap) clone() userMap {
	if m.own != nil {
		m.own.cloned.Store(true)
	}
	return userMap{shards: m.shards, seed: m.seed, n: m.n}
}

// all iterates over the users, in no particular order.
func (m *userMap) all() iter.Seq2[string, *User] {
	return func(yield func(string, *User) bool) {
		for _, s := range m.shards {
			for name, u := range s {
				if !yield(name, u) {
					return
				}
			}
		}
	}
}

// len is the number of users.
func (m *userMap) len() int { return m.n }
