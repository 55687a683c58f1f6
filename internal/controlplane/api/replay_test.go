package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// captured is a signed call as an attacker on the wire records it: the method, the query with every
// signed parameter, and the form body if any. Replaying it sends the same request (V1 does not sign the
// host, and a restarted moat listens on a new port).
type captured struct {
	method, query, body string
}

// capture signs action with the administrator key once (nonce, timestamp now).
func (m *moat) capture(action, method string, params url.Values, form bool) captured {
	m.t.Helper()
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	p.Set("Action", action)
	p.Set("Version", api.VersionKVStore)
	sign.SignV1(method, p, m.keyID, m.secret, time.Time{}, "")
	if form {
		return captured{method, "", p.Encode()}
	}
	return captured{method, p.Encode(), ""}
}

// url is c's URL at host (host:port).
func (c captured) url(host string) string {
	if c.query == "" {
		return "http://" + host + "/"
	}
	return "http://" + host + "/?" + c.query
}

// replay sends c to the API at host (host:port; "" for m's API) and returns the status and body.
func (m *moat) replay(c captured, host string) (int, []byte) {
	m.t.Helper()
	if host == "" {
		host = m.api
	}
	hr, err := http.NewRequest(c.method, c.url(host), strings.NewReader(c.body))
	if err != nil {
		m.t.Fatal(err)
	}
	if c.body != "" {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return m.send(hr, "")
}

// A signed ModifySecurityIps captured on the wire and replayed after a clean restart of moat on the same
// data directory is refused with SignatureNonceUsed and changes nothing — in the query (GET and POST)
// and in a form body; a captured read is refused the same way.
func TestReplayAfterRestartIsRefused(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "app", "Cover", "127.0.0.5")
	cover := func(ips string) url.Values {
		return url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "ModifyMode": {"Cover"}, "SecurityIps": {ips}}
	}
	calls := []captured{
		m.capture("ModifySecurityIps", "POST", cover("10.0.0.1"), false),
		m.capture("ModifySecurityIps", "GET", cover("10.0.0.2"), false),
		m.capture("ModifySecurityIps", "POST", cover("10.0.0.3"), true),
	}
	read := m.capture("DescribeSecurityIps", "POST", url.Values{"InstanceId": {m.inst}}, false)
	for i, c := range append(calls, read) {
		if status, body := m.replay(c, ""); status != http.StatusOK {
			t.Fatalf("call %d first sent: HTTP %d %s", i, status, body)
		}
	}
	// The administrator puts the group back; the replays would undo that.
	m.modify(m.inst, "app", "Cover", "127.0.0.5")

	m.restart()
	for i, c := range append(calls, read) {
		status, body := m.replay(c, "")
		e := wantErrorJSON(t, status, body, http.StatusBadRequest, "SignatureNonceUsed")
		if e["Message"] != "Specified signature nonce was used already." {
			t.Errorf("call %d: message %q", i, e["Message"])
		}
	}
	if g := m.groups(m.inst); len(g) != 2 || g[1] != (ipGroup{"app", "", "127.0.0.5"}) {
		t.Fatalf("groups after the replays: %+v", g)
	}
	if got := redis(t, m.listen, "127.0.0.5", "PING"); got != "+PONG" {
		t.Fatalf("the whitelisted client after the replays: %q", got)
	}
}

// The store, not one process's memory, decides: a call accepted by moat's API is refused by a second
// API handler over the same store (as a second gateway of a fleet would be), and the other way round.
func TestReplayToAnotherHandlerOnTheSameStoreIsRefused(t *testing.T) {
	m := startMoat(t)
	other := httptest.NewServer(api.New(m.srv.Plane(), m.srv, quiet()))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")

	first := m.capture("ModifySecurityIps", "POST", url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "SecurityIps": {"10.0.0.7"}}, false)
	if status, body := m.replay(first, ""); status != http.StatusOK {
		t.Fatalf("first call: HTTP %d %s", status, body)
	}
	status, body := m.replay(first, otherHost)
	wantErrorJSON(t, status, body, http.StatusBadRequest, "SignatureNonceUsed")

	second := m.capture("DescribeSecurityIps", "POST", url.Values{"InstanceId": {m.inst}}, false)
	if status, body := m.replay(second, otherHost); status != http.StatusOK {
		t.Fatalf("second call via the other handler: HTTP %d %s", status, body)
	}
	status, body = m.replay(second, "")
	wantErrorJSON(t, status, body, http.StatusBadRequest, "SignatureNonceUsed")
}

// Concurrent copies of one captured call, sent to moat at once: exactly one is served.
func TestConcurrentReplaysServeOnce(t *testing.T) {
	m := startMoat(t)
	c := m.capture("ModifySecurityIps", "POST", url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "ModifyMode": {"Append"}, "SecurityIps": {"10.0.0.8"}}, false)
	const n = 16
	statuses := make(chan int, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			hr, _ := http.NewRequestWithContext(context.Background(), c.method, c.url(m.api), nil)
			d := &net.Dialer{Timeout: 5 * time.Second}
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
			resp, err := hc.Do(hr)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	ok := 0
	for range n {
		switch s := <-statuses; s {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
		default:
			t.Errorf("a copy got HTTP %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d copies served, want exactly 1", ok, n)
	}
}
