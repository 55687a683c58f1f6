package sign

import (
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// sdkBuildRPCStringToSign is SDK-v1's buildRpcStringToSign (sdk/auth/rpc_signature_composer.go),
// restated: url.Values.Encode of the map, then + → %20, * → %2A, %7E → ~, then url.QueryEscape.
func sdkBuildRPCStringToSign(method string, params map[string]string) string {
	u := url.Values{}
	for k, v := range params {
		u.Add(k, v)
	}
	s := u.Encode()
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	s = strings.ReplaceAll(s, "%7E", "~")
	return method + "&%2F&" + url.QueryEscape(s)
}

func randString(rng *rand.Rand, alphabet string, max int) string {
	n := rng.IntN(max + 1)
	var b strings.Builder
	for range n {
		if rng.IntN(8) == 0 {
			b.WriteByte(byte(rng.IntN(256))) // any byte, including invalid UTF-8
		} else {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
	}
	return b.String()
}

const paramAlphabet = "aZ09-_.~ *+/=&%?:,;!'()@#$[]é\t"

func TestPercentEncodeMatchesSDK(t *testing.T) {
	cases := map[string]string{
		"":                 "",
		"abcXYZ019-_.~":    "abcXYZ019-_.~",
		"a b":              "a%20b",
		"a+b":              "a%2Bb",
		"*":                "%2A",
		"10.0.0.1/24,1.2.": "10.0.0.1%2F24%2C1.2.",
		"é":                "%C3%A9",
		"\x00\xff":         "%00%FF",
	}
	for in, want := range cases {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		s := randString(rng, paramAlphabet, 20)
		if got, want := percentEncode(s), sdkQueryEscape(s); got != want {
			t.Fatalf("percentEncode(%q) = %q, SDK encodes %q", s, got, want)
		}
	}
}

func TestStringToSignV1MatchesSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		m := map[string]string{}
		u := url.Values{}
		for range rng.IntN(8) {
			k, v := randString(rng, paramAlphabet, 8), randString(rng, paramAlphabet, 12)
			m[k] = v
			u[k] = []string{v}
		}
		method := []string{"GET", "POST"}[rng.IntN(2)]
		if got, want := StringToSignV1(method, u), sdkBuildRPCStringToSign(method, m); got != want {
			t.Fatalf("params %q:\n got %s\nwant %s", m, got, want)
		}
	}
}

// nonceOracle is the obvious implementation: a list scanned linearly.
type nonceOracle struct {
	owners  []string
	keys    []string
	expires []time.Time
}

func (o *nonceOracle) add(owner, key string, now, expiry time.Time, max, maxOwned int) nonceResult {
	var owners, keys []string
	var exps []time.Time
	for i := range o.keys {
		if o.expires[i].After(now) {
			owners, keys, exps = append(owners, o.owners[i]), append(keys, o.keys[i]), append(exps, o.expires[i])
		}
	}
	o.owners, o.keys, o.expires = owners, keys, exps
	for _, k := range o.keys {
		if k == key {
			return nonceUsed
		}
	}
	n := 0
	distinct := map[string]bool{owner: true}
	for _, ow := range o.owners {
		distinct[ow] = true
		if ow == owner {
			n++
		}
	}
	if len(o.keys) >= 2*max || len(o.keys) >= max && n >= max/len(distinct) {
		return nonceFull
	}
	if n >= maxOwned {
		return nonceOwnerFull
	}
	o.owners, o.keys, o.expires = append(o.owners, owner), append(o.keys, key), append(o.expires, expiry)
	return nonceAdded
}

func TestNonceSetMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 50 {
		var s nonceSet
		var o nonceOracle
		max := 1 + rng.IntN(20)
		maxOwned := 1 + rng.IntN(10)
		now := t0
		for step := range 2000 {
			// The clock mostly moves forward but sometimes jumps back; expiries vary.
			now = now.Add(time.Duration(rng.IntN(90)-10) * time.Second)
			expiry := now.Add(time.Duration(rng.IntN(600)) * time.Second)
			key := string(rune('a' + rng.IntN(40)))
			owner := string(rune('A' + rng.IntN(3)))
			got, want := s.add(owner, key, now, expiry, max, maxOwned), o.add(owner, key, now, expiry, max, maxOwned)
			if got != want || s.len() != len(o.keys) {
				t.Fatalf("round %d step %d: add(%q) = %d (len %d), oracle %d (len %d)",
					round, step, key, got, s.len(), want, len(o.keys))
			}
		}
		keys := make([]string, 0, len(s.seen))
		for k := range s.seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ok := append([]string(nil), o.keys...)
		sort.Strings(ok)
		if strings.Join(keys, ",") != strings.Join(ok, ",") {
			t.Fatalf("round %d: remembered %v, oracle %v", round, keys, ok)
		}
		for _, ow := range []string{"A", "B", "C"} {
			n := 0
			for _, x := range o.owners {
				if x == ow {
					n++
				}
			}
			if s.owned[ow] != n {
				t.Fatalf("round %d: owner %s has %d remembered, oracle %d", round, ow, s.owned[ow], n)
			}
		}
	}
}
