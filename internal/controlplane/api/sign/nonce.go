package sign

import (
	"container/heap"
	"time"
)

// nonceSet remembers used nonces until their expiry, and how many each owner (access key) has
// remembered. The zero value is empty and ready. Not safe for concurrent use (the Verifier holds its
// mutex). Memory: one map entry and one heap entry per nonce, one map entry per owner with nonces.
type nonceSet struct {
	seen  map[string]time.Time // key → expiry
	exp   expiryHeap           // the same keys, soonest expiry first
	owned map[string]int       // owner → keys remembered (owners with none are absent)
}

type nonceResult int

const (
	nonceAdded     nonceResult = iota
	nonceUsed                  // the key is remembered and not yet expired
	nonceFull                  // max keys are remembered, the owner holds its share, and none has expired
	nonceOwnerFull             // the owner has maxOwned keys remembered and none has expired
)

// used forgets the keys expired at now and reports whether key is remembered.
func (s *nonceSet) used(key string, now time.Time) bool {
	s.expire(now)
	_, ok := s.seen[key]
	return ok
}

// add forgets the keys expired at now, then records key for owner until expiry unless it is already
// remembered, max keys are and owner holds its share of them (max divided among the owners holding
// keys, owner counted), 2×max keys are, or maxOwned keys of owner are. The share keeps a few owners
// that filled the set from refusing every other owner until their keys expire; 2×max bounds memory.
func (s *nonceSet) add(owner, key string, now, expiry time.Time, max, maxOwned int) nonceResult {
	if s.used(key, now) {
		return nonceUsed
	}
	if len(s.seen) >= max {
		owners := len(s.owned)
		if s.owned[owner] == 0 {
			owners++
		}
		if len(s.seen) >= 2*max || s.owned[owner] >= max/owners {
			return nonceFull
		}
	}
	if s.owned[owner] >= maxOwned {
		return nonceOwnerFull
	}
	if s.seen == nil {
		s.seen = make(map[string]time.Time)
		s.owned = make(map[string]int)
	}
	s.seen[key] = expiry
	s.owned[owner]++
	heap.Push(&s.exp, nonceEntry{owner: owner, key: key, expiry: expiry})
	return nonceAdded
}

// expire forgets every key whose expiry is not after now.
func (s *nonceSet) expire(now time.Time) {
	for len(s.exp) > 0 && !s.exp[0].expiry.After(now) {
		e := heap.Pop(&s.exp).(nonceEntry)
		delete(s.seen, e.key)
		if s.owned[e.owner]--; s.owned[e.owner] <= 0 {
			delete(s.owned, e.owner)
		}
	}
}

func (s *nonceSet) len() int { return len(s.seen) }

type nonceEntry struct {
	owner  string
	key    string
	expiry time.Time
}

type expiryHeap []nonceEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expiry.Before(h[j].expiry) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(nonceEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nonceEntry{}
	*h = old[:len(old)-1]
	return e
}
