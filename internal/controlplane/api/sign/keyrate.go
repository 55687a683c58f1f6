package sign

import (
	"time"

	"golang.org/x/time/rate"
)

// keyLimiters holds one token bucket per access key that made verified calls. The zero value is empty
// and ready. Not safe for concurrent use (the Verifier holds its mutex).
//
// Memory stays bounded by the keys in use: entries exist only for keys whose signature verified (keys
// moat stores), and once there are pruneAt of them, the entries whose bucket is full again — which
// carry no state — are dropped.
type keyLimiters struct {
	m       map[string]*rate.Limiter
	pruneAt int
}

// minPrune is the number of entries below which keyLimiters never prunes.
const minPrune = 1024

// allow spends one of id's tokens at now, reporting false (spending nothing) if it has none. r and b
// are the bucket's rate and size; a bucket made with other values is replaced.
func (k *keyLimiters) allow(id string, now time.Time, r rate.Limit, b int) bool {
	l, ok := k.m[id]
	if !ok || l.Limit() != r || l.Burst() != b {
		if k.m == nil {
			k.m = make(map[string]*rate.Limiter)
		}
		k.prune(now)
		l = rate.NewLimiter(r, b)
		k.m[id] = l
	}
	return l.AllowN(now, 1)
}

// prune drops the full buckets once there are pruneAt entries, then waits for twice as many.
func (k *keyLimiters) prune(now time.Time) {
	if len(k.m) < max(k.pruneAt, minPrune) {
		return
	}
	for id, l := range k.m {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(k.m, id)
		}
	}
	k.pruneAt = 2 * len(k.m)
}
