package sign

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// otherRequest is a V1 request by the key "other" at time at.
func otherRequest(t *testing.T, at time.Time, nonce string) *Request {
	t.Helper()
	return v1Wire(t, "POST", signedV1("POST", describeParams(), "other", "othersecret", at, nonce), nil)
}

// One key over its call rate is refused with Throttling.User while another key is served; its budget
// refills with time.
func TestKeyRateIsPerKey(t *testing.T) {
	v, c := newVerifier()
	v.KeyRate, v.KeyBurst = 2, 5
	for i := range 5 {
		mustVerify(t, v, requestAt(t, 1, c.Now(), fmt.Sprint("a", i)))
	}
	_, err := v.Verify(requestAt(t, 3, c.Now(), "a5"))
	e := wantError(t, err, CodeThrottlingUser, 400)
	if want := "Request was denied due to user flow control. Access key testid may make at most 2 calls per second (bursts of 5); retry later."; e.Message != want {
		t.Fatalf("message %q, want %q", e.Message, want)
	}
	mustVerify(t, v, otherRequest(t, c.Now(), "b0"))
	// A throttled request did not use up its nonce; half a second later one token is back.
	c.Add(500 * time.Millisecond)
	mustVerify(t, v, requestAt(t, 3, t0, "a5"))
	_, err = v.Verify(requestAt(t, 1, t0, "a6"))
	wantError(t, err, CodeThrottlingUser, 400)
}

// A replay of a remembered nonce is refused as a replay and costs its key nothing: an attacker
// replaying a captured request cannot throttle the key that signed it.
func TestReplaySpendsNoBudget(t *testing.T) {
	v, _ := newVerifier()
	v.KeyRate, v.KeyBurst = 1, 3
	r := requestAt(t, 1, t0, "captured")
	mustVerify(t, v, r)
	for range 50 {
		_, err := v.Verify(r)
		wantError(t, err, CodeSignatureNonceUsed, 400)
	}
	mustVerify(t, v, requestAt(t, 1, t0, "own-1"))
	mustVerify(t, v, requestAt(t, 1, t0, "own-2"))
}

// One key cannot fill the nonce memory all keys share: over its own share it gets Throttling.User,
// and the others keep working; the global bound still holds as a backstop.
func TestKeyNonceShare(t *testing.T) {
	v, c := newVerifier()
	v.KeyRate, v.KeyBurst = 1000, 1000
	v.MaxKeyNonces, v.MaxNonces = 4, 6
	for i := range 4 {
		mustVerify(t, v, requestAt(t, 1, t0, fmt.Sprint("a", i)))
	}
	_, err := v.Verify(requestAt(t, 1, t0, "a4"))
	e := wantError(t, err, CodeThrottlingUser, 400)
	if want := "Request was denied due to user flow control. Access key testid may make at most 4 calls per 30m0s; retry later."; e.Message != want {
		t.Fatalf("message %q", e.Message)
	}
	if errors.Is(err, ErrNonceCacheFull) || !errors.Is(err, ErrThrottlingUser) {
		t.Fatalf("errors.Is on %v", err)
	}
	mustVerify(t, v, otherRequest(t, t0, "b0"))
	mustVerify(t, v, otherRequest(t, t0, "b1"))
	// 6 remembered in all: the other key, under its share (6 / 2 keys), is still served, then not.
	mustVerify(t, v, otherRequest(t, t0, "b2"))
	_, err = v.Verify(otherRequest(t, t0, "b3"))
	wantError(t, err, CodeNonceCacheFull, 429)
	// When the first key's nonces expire, its share is free again.
	c.Set(t0.Add(30 * time.Minute))
	mustVerify(t, v, requestAt(t, 1, c.Now(), "a4"))
	if v.nonces.owned[testID] != 1 || v.nonces.len() != 1 {
		t.Fatalf("after expiry: %d of testid's, %d in all; want 1 and 1", v.nonces.owned[testID], v.nonces.len())
	}
}

// brokenJournal is a journal whose store fails: the only way to exercise that path without breaking a
// real disk.
type brokenJournal struct{}

func (brokenJournal) Use(string, string, time.Time, time.Time) (bool, error) {
	return false, errors.New("disk gone")
}

// usedJournal says every nonce is recorded already, as a journal written by an earlier process does.
type usedJournal struct{}

func (usedJournal) Use(string, string, time.Time, time.Time) (bool, error) { return false, nil }

// The journal has the last word: a nonce it knows is a replay even if this process never saw it, and a
// nonce it cannot record is not served (503, which SDKs retry with a fresh nonce).
func TestJournalDecides(t *testing.T) {
	v, _ := newVerifier()
	v.Journal = usedJournal{}
	_, err := v.Verify(requestAt(t, 1, t0, "from-before-the-restart"))
	wantError(t, err, CodeSignatureNonceUsed, 400)

	v, _ = newVerifier()
	v.Journal = brokenJournal{}
	_, err = v.Verify(requestAt(t, 3, t0, "n"))
	e := wantError(t, err, CodeServiceUnavailable, 503)
	if e.Message != "The request has failed due to a temporary failure of the server." {
		t.Fatalf("message %q", e.Message)
	}
}

// The per-key buckets do not grow with keys that have gone quiet.
func TestKeyLimitersPrune(t *testing.T) {
	var k keyLimiters
	now := t0
	for i := range 3 * minPrune {
		k.allow(fmt.Sprint("key", i), now, 1, 1)
		now = now.Add(2 * time.Second) // every earlier bucket is full again
	}
	if len(k.m) > minPrune {
		t.Fatalf("%d buckets kept for %d quiet keys, want at most %d", len(k.m), 3*minPrune, minPrune)
	}
}

// Keys that filled the nonce cache between them do not lock every other key out until their nonces
// expire: a key holding less than its share (the cap divided among the keys holding nonces) is still
// served, the ones that filled it are not, and the cache holds at most twice the cap.
func TestFullNonceCacheServesOtherKeys(t *testing.T) {
	v, _ := newVerifier()
	v.KeyRate, v.KeyBurst = 1000, 1000
	v.MaxKeyNonces, v.MaxNonces = 10, 10
	for i := range 10 {
		mustVerify(t, v, requestAt(t, 1, t0, fmt.Sprint("a", i)))
	}
	for i := range 5 { // 10 / 2 keys
		mustVerify(t, v, otherRequest(t, t0, fmt.Sprint("b", i)))
	}
	_, err := v.Verify(otherRequest(t, t0, "b5"))
	wantError(t, err, CodeNonceCacheFull, 429)
	_, err = v.Verify(requestAt(t, 1, t0, "a10"))
	wantError(t, err, CodeNonceCacheFull, 429)
	if n := v.nonces.len(); n != 15 {
		t.Fatalf("%d nonces remembered, want 15", n)
	}
}
