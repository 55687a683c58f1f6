package sign

import (
	"container/heap"
	"time"
)

// nonceSet remembers used nonces until their expiry. The zero value is empty and ready. Not safe for
// concurrent use (the Verifier holds its mutex). Memory: one map entry and one heap entry per nonce.
type nonceSet struct {
	seen map[string]time.Time // key → expiry
	exp  expiryHeap           // the same keys, soonest expiry first
}

type nonceResult int

const (
	nonceAdded nonceResult = iota
	nonceUsed              // the key is remembered and not yet expired
	nonceFull              // max keys are remembered and none has expired
)

// add forgets the keys expired at now, then records key until expiry unless it is already remembered
// or max keys are.
func (s *nonceSet) add(key string, now, expiry time.Time, max int) nonceResult {
	s.expire(now)
	if _, ok := s.seen[key]; ok {
		return nonceUsed
	}
	if len(s.seen) >= max {
		return nonceFull
	}
	if s.seen == nil {
		s.seen = make(map[string]time.Time)
	}
	s.seen[key] = expiry
	heap.Push(&s.exp, nonceEntry{key: key, expiry: expiry})
	return nonceAdded
}

// expire forgets every key whose expiry is not after now.
func (s *nonceSet) expire(now time.Time) {
	for len(s.exp) > 0 && !s.exp[0].expiry.After(now) {
		e := heap.Pop(&s.exp).(nonceEntry)
		delete(s.seen, e.key)
	}
}

func (s *nonceSet) len() int { return len(s.seen) }

type nonceEntry struct {
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
