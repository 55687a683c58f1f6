package sign

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const (
	testID     = "testid"
	testSecret = "testsecret"
	testHost   = "moat.test:8080"
)

func keys(m map[string]string) Secrets {
	return func(id string) (string, bool) { s, ok := m[id]; return s, ok }
}

// clock is a settable, concurrency-safe clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.now = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// newVerifier verifies testid/testsecret (and other/othersecret) against a clock set to t0.
func newVerifier() (*Verifier, *clock) {
	c := &clock{now: t0}
	v := NewVerifier(keys(map[string]string{testID: testSecret, "other": "othersecret"}))
	v.Now = c.Now
	return v, c
}

// wantError asserts err is an *Error with code and status and returns it.
func wantError(t *testing.T, err error, code string, status int) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error %s", err, err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("got %s (HTTP %d) %q, want %s (HTTP %d)", e.Code, e.Status, e.Message, code, status)
	}
	if e.Message == "" {
		t.Fatalf("%s: empty message", code)
	}
	return e
}

func mustVerify(t *testing.T, v *Verifier, r *Request) Verified {
	t.Helper()
	got, err := v.Verify(r)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return got
}

// wire turns an HTTP request as a client would send it into a Request, through FromHTTP.
func wire(t *testing.T, hr *http.Request, body []byte) *Request {
	t.Helper()
	r, err := FromHTTP(hr, body)
	if err != nil {
		t.Fatalf("FromHTTP: %v", err)
	}
	return r
}

// v1Wire sends query (encoded with url.Values.Encode, as SDK-v1 does: '+' for space) and, if form is
// not nil, form as an application/x-www-form-urlencoded body.
func v1Wire(t *testing.T, method string, query, form url.Values) *Request {
	t.Helper()
	var body []byte
	if form != nil {
		body = []byte(form.Encode())
	}
	hr := httptest.NewRequest(method, "http://"+testHost+"/?"+query.Encode(), bytes.NewReader(body))
	if form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return wire(t, hr, body)
}

// signedV1 returns params signed with SignV1 at time at with the given nonce.
func signedV1(method string, params url.Values, id, secret string, at time.Time, nonce string) url.Values {
	p := url.Values{}
	for k, vs := range params {
		p[k] = append([]string(nil), vs...)
	}
	SignV1(method, p, id, secret, at, nonce)
	return p
}

func describeParams() url.Values {
	return url.Values{
		"Action":     {"DescribeSecurityIps"},
		"Version":    {"2015-01-01"},
		"RegionId":   {"cn-hangzhou"},
		"InstanceId": {"r-bp1zxszhcgatnx****"},
	}
}

// --- V3 oracle: an independent re-implementation of darabonba-openapi's GetAuthorization ---

// sdkQueryEscape is darabonba's value encoding: url.QueryEscape, then + → %20, * → %2A, %7E → ~.
func sdkQueryEscape(s string) string {
	s = url.QueryEscape(s)
	s = strings.ReplaceAll(s, "+", "%20")
	s = strings.ReplaceAll(s, "*", "%2A")
	return strings.ReplaceAll(s, "%7E", "~")
}

// v3Oracle signs hr the way darabonba does: it signs host, content-type and every x-acs-* header present.
// It sets x-acs-content-sha256 from body unless already set, then the Authorization header.
func v3Oracle(hr *http.Request, body []byte, id, secret string) (canonical string) {
	if hr.Header.Get("x-acs-content-sha256") == "" {
		sum := sha256.Sum256(body)
		hr.Header.Set("x-acs-content-sha256", hex.EncodeToString(sum[:]))
	}
	q := hr.URL.Query()
	qk := make([]string, 0, len(q))
	for k := range q {
		qk = append(qk, k)
	}
	sort.Strings(qk)
	var qs []string
	for _, k := range qk {
		qs = append(qs, k+"="+sdkQueryEscape(q.Get(k)))
	}
	hs := map[string]string{"host": hr.Host}
	for k := range hr.Header {
		lk := strings.ToLower(k)
		if lk == "content-type" || strings.HasPrefix(lk, "x-acs-") {
			hs[lk] = strings.TrimSpace(hr.Header.Get(k))
		}
	}
	hk := make([]string, 0, len(hs))
	for k := range hs {
		hk = append(hk, k)
	}
	sort.Strings(hk)
	var ch strings.Builder
	for _, k := range hk {
		ch.WriteString(k + ":" + hs[k] + "\n")
	}
	signed := strings.Join(hk, ";")
	canonical = hr.Method + "\n/\n" + strings.Join(qs, "&") + "\n" + ch.String() + "\n" + signed + "\n" +
		hr.Header.Get("x-acs-content-sha256")
	h := sha256.Sum256([]byte(canonical))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(h[:])))
	hr.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential="+id+",SignedHeaders="+signed+
		",Signature="+hex.EncodeToString(m.Sum(nil)))
	return canonical
}

// v3HTTP builds an unsigned V3-style request (darabonba's headers) for action at time at.
func v3HTTP(method, rawQuery string, body []byte, contentType string, at time.Time, nonce string) *http.Request {
	hr := httptest.NewRequest(method, "http://"+testHost+"/?"+rawQuery, bytes.NewReader(body))
	hr.Header.Set("x-acs-action", "ModifySecurityIps")
	hr.Header.Set("x-acs-version", "2015-01-01")
	hr.Header.Set("x-acs-date", at.UTC().Format(TimeFormat))
	hr.Header.Set("x-acs-signature-nonce", nonce)
	hr.Header.Set("x-acs-credentials-provider", "static_ak")
	hr.Header.Set("User-Agent", "AlibabaCloud (linux; amd64) Golang/1.26 Core/0.01 TeaDSL/2")
	if contentType != "" {
		hr.Header.Set("Content-Type", contentType)
	}
	return hr
}

// signedV3 is a V3 request signed by the oracle, through FromHTTP.
func signedV3(t *testing.T, method, rawQuery string, body []byte, contentType string, at time.Time, nonce string) *Request {
	t.Helper()
	hr := v3HTTP(method, rawQuery, body, contentType, at, nonce)
	v3Oracle(hr, body, testID, testSecret)
	return wire(t, hr, body)
}
