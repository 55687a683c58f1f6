package acl

import (
	"iter"
	"maps"
	"math"
)

// userMap is a set's users by name, shared with the sets copied from it: base is written only while the
// set is built (newUserMap, put) and never once a copy may share it; every later change goes to over (a
// nil value: the user is deleted). A copy (clone) shares base and copies over, so that a set one user
// away from another costs that user, not all of them. When over grows past compactAt, a change folds it
// into a new base: one in about compactAt changes pays for copying every user.
type userMap struct {
	base map[string]*User
	over map[string]*User
	n    int
}

// newUserMap returns an empty map to build with put, with room for size users.
func newUserMap(size int) userMap { return userMap{base: make(map[string]*User, size)} }

// put adds or replaces a user while the map is being built (before any clone).
func (m *userMap) put(name string, u *User) {
	if _, ok := m.base[name]; !ok {
		m.n++
	}
	m.base[name] = u
}

// get returns the user, or nil.
func (m *userMap) get(name string) *User {
	if u, ok := m.over[name]; ok {
		return u
	}
	return m.base[name]
}

// set adds or replaces a user.
func (m *userMap) set(name string, u *User) {
	if m.get(name) == nil {
		m.n++
	}
	m.change(name, u)
}

// del deletes a user; false when there is none.
func (m *userMap) del(name string) bool {
	if m.get(name) == nil {
		return false
	}
	m.n--
	m.change(name, nil)
	return true
}

// change records u (nil: deleted) as the user name in over, and folds over into a new base when it has
// grown past compactAt.
func (m *userMap) change(name string, u *User) {
	if m.over == nil {
		m.over = map[string]*User{}
	}
	m.over[name] = u
	if len(m.over) <= compactAt(len(m.base)) {
		return
	}
	base := make(map[string]*User, m.n)
	for name, u := range m.all() {
		base[name] = u
	}
	m.base, m.over = base, nil
}

// compactAt is how many changes over a base of n users are kept apart from it: about √(2n), where a
// copy's cost (the changes) and a fold's cost spread over the changes between folds (n / the bound)
// are the least together.
func compactAt(n int) int {
	return max(32, int(math.Sqrt(float64(2*n))))
}

// clone returns a copy sharing base.
func (m *userMap) clone() userMap {
	return userMap{base: m.base, over: maps.Clone(m.over), n: m.n}
}

// all iterates over the users, in no particular order.
func (m *userMap) all() iter.Seq2[string, *User] {
	return func(yield func(string, *User) bool) {
		for name, u := range m.base {
			if _, changed := m.over[name]; changed {
				continue
			}
			if !yield(name, u) {
				return
			}
		}
		for name, u := range m.over {
			if u != nil && !yield(name, u) {
				return
			}
		}
	}
}

// len is the number of users.
func (m *userMap) len() int { return m.n }
