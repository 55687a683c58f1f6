package gateway

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/refused"
)

// Bounds of the refusal recorder.
const (
	// activityAddrs is how many (address, reason) pairs are remembered. When full, the least recently
	// seen half is forgotten in one pass, so a scan from many addresses costs amortised O(log n) per
	// refusal and the memory stays bounded (about 100 bytes a pair).
	activityAddrs = 1024
)

// Activity remembers an instance's recent refused connections for the console: who was refused, why,
// how often, and how many refusals each minute of the last hour. It is fed on the refusal path, so
// recording is one short critical section with no allocation for an address already known. The zero
// value is ready to use; it is safe for concurrent use.
type Activity struct {
	mu      sync.Mutex
	pairs   map[activityKey]activityCount
	buckets [refused.Buckets]activityBucket
	total   uint64
	now     func() time.Time // nil: time.Now (tests set it)
}

type activityKey struct {
	addr   netip.Addr
	reason string
}

type activityCount struct {
	first, last time.Time
	n           uint64
}

type activityBucket struct {
	minute int64 // unix time / bucket width; identifies which minute the count belongs to
	n      uint64
}

// record notes one refused connection from addr.
func (a *Activity) record(addr netip.Addr, reason string) {
	now := a.clock()
	minute := now.Unix() / int64(refused.Bucket/time.Second)
	k := activityKey{addr, reason}
	a.mu.Lock()
	if a.pairs == nil {
		a.pairs = make(map[activityKey]activityCount)
	}
	c, ok := a.pairs[k]
	if !ok {
		if len(a.pairs) >= activityAddrs {
			a.forgetOldest()
		}
		c.first = now
	}
	c.last = now
	c.n++
	a.pairs[k] = c
	b := &a.buckets[minute%refused.Buckets]
	if b.minute != minute {
		*b = activityBucket{minute: minute}
	}
	b.n++
	a.total++
	a.mu.Unlock()
}

// forgetOldest drops the least recently seen half of the pairs. Called with mu held.
func (a *Activity) forgetOldest() {
	lasts := make([]int64, 0, len(a.pairs))
	for _, c := range a.pairs {
		lasts = append(lasts, c.last.UnixNano())
	}
	slices.Sort(lasts)
	cut := lasts[len(lasts)/2]
	for k, c := range a.pairs {
		if c.last.UnixNano() < cut {
			delete(a.pairs, k)
		}
	}
	if len(a.pairs) >= activityAddrs { // every pair seen at the same instant: drop arbitrary ones
		n := 0
		for k := range a.pairs {
			if n >= activityAddrs/2 {
				break
			}
			delete(a.pairs, k)
			n++
		}
	}
}

func (a *Activity) clock() time.Time {
	if a.now != nil {
		return a.now()
	}
	return time.Now()
}

// Report returns a copy of the recorder's state. It does not block the refusal path for longer than
// the copy of at most activityAddrs pairs takes.
func (a *Activity) Report() refused.Report {
	now := a.clock()
	minute := now.Unix() / int64(refused.Bucket/time.Second)
	r := refused.Report{Now: now, Timeline: make([]uint64, refused.Buckets)}
	r.TimelineStart = time.Unix((minute-refused.Buckets+1)*int64(refused.Bucket/time.Second), 0)
	a.mu.Lock()
	r.Total = a.total
	r.Refusals = make([]refused.Record, 0, len(a.pairs))
	for k, c := range a.pairs {
		r.Refusals = append(r.Refusals, refused.Record{Addr: k.addr, Reason: k.reason, Count: c.n, FirstSeen: c.first, LastSeen: c.last})
	}
	for i := range r.Timeline {
		m := minute - refused.Buckets + 1 + int64(i)
		if b := a.buckets[((m%refused.Buckets)+refused.Buckets)%refused.Buckets]; b.minute == m {
			r.Timeline[i] = b.n
		}
	}
	a.mu.Unlock()
	slices.SortFunc(r.Refusals, func(x, y refused.Record) int {
		if c := y.LastSeen.Compare(x.LastSeen); c != 0 {
			return c
		}
		if c := x.Addr.Compare(y.Addr); c != 0 {
			return c
		}
		return cmp.Compare(x.Reason, y.Reason)
	})
	return r
}

// Activity returns the instance's recent refused connections (read-only copy).
func (in *Instance) Activity() refused.Report { return in.activity.Report() }
