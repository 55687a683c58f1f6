package sign

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// requestAt makes a signed request of the given scheme whose timestamp is at.
func requestAt(t *testing.T, scheme int, at time.Time, nonce string) *Request {
	t.Helper()
	if scheme == 1 {
		return v1Wire(t, "POST", signedV1("POST", describeParams(), testID, testSecret, at, nonce), nil)
	}
	return signedV3(t, "POST", v3Query, nil, "", at, nonce)
}

func TestTimestampWindow(t *testing.T) {
	cases := []struct {
		offset time.Duration // request time minus server time
		ok     bool
	}{
		{0, true},
		{-15 * time.Minute, true},
		{15 * time.Minute, true},
		{-15*time.Minute - time.Second, false}, // stale
		{15*time.Minute + time.Second, false},  // from the future
		{-24 * time.Hour, false},
		{365 * 24 * time.Hour, false},
	}
	for _, scheme := range []int{1, 3} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("V%d %v", scheme, tc.offset), func(t *testing.T) {
				v, _ := newVerifier()
				got, err := v.Verify(requestAt(t, scheme, t0.Add(tc.offset), "w"))
				if tc.ok {
					if err != nil || !got.Time.Equal(t0.Add(tc.offset)) {
						t.Fatalf("got %+v, %v; want accepted", got, err)
					}
					return
				}
				e := wantError(t, err, CodeTimeStampExpired, 400)
				if e.Message != "Specified time stamp or date value is expired." {
					t.Fatalf("message %q", e.Message)
				}
			})
		}
	}
}

func TestCustomWindow(t *testing.T) {
	v, _ := newVerifier()
	v.Window = time.Minute
	mustVerify(t, v, requestAt(t, 1, t0.Add(-time.Minute), "a"))
	_, err := v.Verify(requestAt(t, 1, t0.Add(-time.Minute-time.Second), "b"))
	wantError(t, err, CodeTimeStampExpired, 400)
}

func TestNonceReplay(t *testing.T) {
	for _, scheme := range []int{1, 3} {
		t.Run(fmt.Sprintf("V%d", scheme), func(t *testing.T) {
			v, c := newVerifier()
			r := requestAt(t, scheme, t0, "once")
			mustVerify(t, v, r)

			// The very same request again, and later within the window.
			for _, later := range []time.Duration{0, time.Minute, 14 * time.Minute} {
				c.Set(t0.Add(later))
				_, err := v.Verify(r)
				e := wantError(t, err, CodeSignatureNonceUsed, 400)
				if e.Message != "Specified signature nonce was used already." {
					t.Fatalf("message %q", e.Message)
				}
			}
			// A new request (new timestamp) reusing the nonce, still within 2×window of its first use.
			c.Set(t0.Add(29 * time.Minute))
			_, err := v.Verify(requestAt(t, scheme, t0.Add(29*time.Minute), "once"))
			wantError(t, err, CodeSignatureNonceUsed, 400)

			// After 2×window the nonce is forgotten; by then the old request itself is expired.
			c.Set(t0.Add(30 * time.Minute))
			_, err = v.Verify(r)
			wantError(t, err, CodeTimeStampExpired, 400)
			mustVerify(t, v, requestAt(t, scheme, t0.Add(30*time.Minute), "once"))
		})
	}
}

func TestNonceScopeAndRecording(t *testing.T) {
	v, _ := newVerifier()
	// Nonces are per access key: another key may use the same nonce.
	mustVerify(t, v, requestAt(t, 1, t0, "shared"))
	p := signedV1("POST", describeParams(), "other", "othersecret", t0, "shared")
	mustVerify(t, v, v1Wire(t, "POST", p, nil))
	// V1 and V3 share the memory.
	_, err := v.Verify(requestAt(t, 3, t0, "shared"))
	wantError(t, err, CodeSignatureNonceUsed, 400)

	// A request that fails verification does not use up its nonce.
	bad := signedV1("POST", describeParams(), testID, "wrong", t0, "fresh")
	_, err = v.Verify(v1Wire(t, "POST", bad, nil))
	wantError(t, err, CodeSignatureDoesNotMatch, 400)
	mustVerify(t, v, requestAt(t, 1, t0, "fresh"))
	if n := v.nonces.len(); n != 3 {
		t.Fatalf("%d nonces remembered, want 3", n)
	}
}

func TestNonceMemoryBound(t *testing.T) {
	v, c := newVerifier()
	v.MaxNonces = 3
	for i := range 3 {
		mustVerify(t, v, requestAt(t, 1, t0, fmt.Sprint("n", i)))
	}
	// Full: a fresh nonce is refused, with a clear message, and nothing is forgotten early.
	_, err := v.Verify(requestAt(t, 3, t0, "n3"))
	e := wantError(t, err, CodeNonceCacheFull, 429)
	if e.Message != "Too many signed requests in the last 30m0s: the server remembers at most 3 signature nonces and forgets none early. Retry later." {
		t.Fatalf("message %q", e.Message)
	}
	_, err = v.Verify(requestAt(t, 1, t0, "n0"))
	wantError(t, err, CodeSignatureNonceUsed, 400) // a replay is still a replay
	if !errors.Is(err, ErrSignatureNonceUsed) || errors.Is(err, ErrNonceCacheFull) {
		t.Fatalf("errors.Is on %v", err)
	}

	// Nearly 2×window later the memory is still full; at 2×window the old nonces expire.
	c.Set(t0.Add(30*time.Minute - time.Second))
	_, err = v.Verify(requestAt(t, 1, c.Now(), "n4"))
	wantError(t, err, CodeNonceCacheFull, 429)
	c.Set(t0.Add(30 * time.Minute))
	mustVerify(t, v, requestAt(t, 1, c.Now(), "n4"))
	if n := v.nonces.len(); n != 1 {
		t.Fatalf("%d nonces remembered, want 1", n)
	}
}

func TestDefaults(t *testing.T) {
	v := NewVerifier(nil)
	if v.window() != 15*time.Minute || v.maxNonces() != 100_000 {
		t.Fatalf("defaults: window %v, max nonces %d", v.window(), v.maxNonces())
	}
	if d := time.Since(v.now()); d < 0 || d > time.Minute {
		t.Fatalf("nil Now is not time.Now: %v", d)
	}
	// The real clock: a request signed now verifies.
	w := NewVerifier(keys(map[string]string{testID: testSecret}))
	mustVerify(t, w, v1Wire(t, "GET", signedV1("GET", describeParams(), testID, testSecret, time.Time{}, ""), nil))
}

func TestErrorType(t *testing.T) {
	v, _ := newVerifier()
	_, err := v.Verify(v1Wire(t, "POST", signedV1("POST", describeParams(), "nobody", "x", t0, "e"), nil))
	if !errors.Is(err, ErrAccessKeyNotFound) || errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Fatalf("errors.Is on %v", err)
	}
	if err.Error() != "InvalidAccessKeyId.NotFound: Specified access key is not found." {
		t.Fatalf("Error() = %q", err.Error())
	}
	// Returned errors are fresh values, never the sentinels.
	if err == error(ErrAccessKeyNotFound) {
		t.Fatal("returned the sentinel itself")
	}
}

// Many goroutines replay the same requests concurrently: each nonce is accepted exactly once.
func TestConcurrentReplays(t *testing.T) {
	v, _ := newVerifier()
	const nonces, replays = 20, 8
	reqs := make([]*Request, nonces)
	for i := range reqs {
		reqs[i] = requestAt(t, 1+2*(i%2), t0, fmt.Sprint("c", i))
	}
	var accepted [nonces]atomic.Int32
	var wg sync.WaitGroup
	for range replays {
		for i, r := range reqs {
			wg.Go(func() {
				_, err := v.Verify(r)
				switch {
				case err == nil:
					accepted[i].Add(1)
				case !errors.Is(err, ErrSignatureNonceUsed):
					t.Errorf("nonce %d: %v", i, err)
				}
			})
		}
	}
	wg.Wait()
	for i := range accepted {
		if n := accepted[i].Load(); n != 1 {
			t.Errorf("nonce %d accepted %d times", i, n)
		}
	}
}

// FromHTTP decoding errors are InvalidParameter.
func TestFromHTTPErrors(t *testing.T) {
	for _, raw := range []string{"a=%zz", "a=1;b=2"} {
		hr := v3HTTP("GET", "", nil, "", t0, "n")
		hr.URL.RawQuery = raw
		_, err := FromHTTP(hr, nil)
		wantError(t, err, CodeInvalidParameter, 400)
	}
	hr := v3HTTP("POST", "", []byte("a=%zz"), "application/x-www-form-urlencoded", t0, "n")
	_, err := FromHTTP(hr, []byte("a=%zz"))
	wantError(t, err, CodeInvalidParameter, 400)
	// A JSON body is not form: Form stays nil.
	hr = v3HTTP("POST", "", []byte(`{"a":1}`), "application/json", t0, "n")
	r, err := FromHTTP(hr, []byte(`{"a":1}`))
	if err != nil || r.Form != nil || r.Header.Get("Host") != testHost || r.Path != "/" {
		t.Fatalf("FromHTTP = %+v, %v", r, err)
	}
}
