package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// dialHTTP opens a TCP connection to addr from source address src.
func dialHTTP(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends a raw request on c and reads the response's status code and body.
func exchange(t *testing.T, c net.Conn, req string) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// closedByServer waits up to 10 s for the server to close c, and reports whether it did.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// wrongKeyLogin is a raw console login request with a wrong access key (cheap to check, counted by the
// login limit like a wrong password), to host, with the extra header lines (each ending in CRLF).
func wrongKeyLogin(host, extra string) string {
	form := url.Values{"method": {"key"}, "access_key_id": {"LTAIwrong"}, "access_key_secret": {"wrong"}}.Encode()
	return "POST /console/login HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n" + extra +
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " + strconv.Itoa(len(form)) + "\r\n\r\n" + form
}

// A source address holds at most MaxConnsPerAddr API connections, and all sources together at most
// MaxConns: a connection over either cap is answered at once (429 or 503) and closed, and a closed
// connection gives its place back.
func TestAPIConnectionCaps(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), HTTP: HTTPLimits{MaxConns: 5, MaxConnsPerAddr: 3}})
	defer s.Close()
	api := s.APIAddr().String()
	var held []net.Conn
	for range 3 {
		held = append(held, dialHTTP(t, api, "127.0.0.2"))
	}
	if code, body := exchange(t, dialHTTP(t, api, "127.0.0.2"), ""); code != http.StatusTooManyRequests || !strings.Contains(body, `"Code":"Throttling.TooManyConnections"`) {
		t.Fatalf("4th connection from one address: %d %q, want 429", code, body)
	}
	held = append(held, dialHTTP(t, api, "127.0.0.3"), dialHTTP(t, api, "127.0.0.3"))
	if code, body := exchange(t, dialHTTP(t, api, "127.0.0.4"), ""); code != http.StatusServiceUnavailable || !strings.Contains(body, `"Code":"ServiceUnavailable.TooManyConnections"`) {
		t.Fatalf("6th connection in all: %d %q, want 503", code, body)
	}
	// The held connections are served, and closing one lets another address in.
	if code, _ := exchange(t, held[0], "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); code != http.StatusOK {
		t.Fatalf("held connection: /healthz %d", code)
	}
	held[1].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := exchange(t, dialHTTP(t, api, "127.0.0.4"), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a place freed by a close is not given back: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A connection that sends nothing, one left idle after a request, and one whose body trickles are each
// closed by moat once their timeout passes (issue 16, finding 1: they stayed open forever).
func TestAPIConnectionTimeouts(t *testing.T) {
	lim := HTTPLimits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), HTTP: lim})
	defer s.Close()
	api := s.APIAddr().String()

	silent := dialHTTP(t, api, "127.0.0.2")
	idle := dialHTTP(t, api, "127.0.0.2")
	if code, _ := exchange(t, idle, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	slow := dialHTTP(t, api, "127.0.0.2")
	io.WriteString(slow, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nA")
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 100 ms: never idle long enough for a per-read timeout alone
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := io.WriteString(slow, "A"); err != nil {
					return
				}
			}
		}
	}()
	for name, c := range map[string]net.Conn{"silent": silent, "idle keep-alive": idle, "slow body": slow} {
		if !closedByServer(c) {
			t.Errorf("%s connection still open after 10 s", name)
		}
	}
}

// moat answers only to its own names: a DNS-rebinding page (Host: the attacker's name) gets 421 on
// every endpoint and cannot log in to the console; loopback names, the listen address and the
// configured --api-host names are served. A console login whose Origin is another site is refused.
func TestForeignHostAndOriginRefused(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), APIHosts: []string{"moat.example.com"}})
	defer s.Close()
	api := s.APIAddr().String()
	_, port, _ := net.SplitHostPort(api)
	get := func(host, path string) int {
		code, _ := exchange(t, dialHTTP(t, api, "127.0.0.1"), "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		return code
	}
	for _, host := range []string{"rebind.attacker.example:" + port, "rebind.attacker.example", "10.1.2.3:" + port} {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/console/login", "/?Action=DescribeInstances"} {
			if code := get(host, path); code != http.StatusMisdirectedRequest {
				t.Errorf("Host %s %s: %d, want 421", host, path, code)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "[::1]:" + port, "moat.example.com", "Moat.Example.Com.:" + port} {
		if code := get(host, "/healthz"); code != http.StatusOK {
			t.Errorf("Host %s: /healthz %d, want 200", host, code)
		}
	}
	login := func(host, origin string) int {
		code, _ := exchange(t, dialHTTP(t, api, "127.0.0.1"), wrongKeyLogin(host, "Origin: "+origin+"\r\n"))
		return code
	}
	if code := login("rebind.attacker.example:"+port, "http://rebind.attacker.example:"+port); code != http.StatusMisdirectedRequest {
		t.Errorf("DNS-rebinding login: %d, want 421", code)
	}
	if code := login("127.0.0.1:"+port, "http://attacker.example"); code != http.StatusForbidden {
		t.Errorf("login with a foreign Origin: %d, want 403", code)
	}
	if code := login("127.0.0.1:"+port, "http://127.0.0.1:"+port); code != http.StatusUnauthorized {
		t.Errorf("same-origin login with a wrong key: %d, want 401", code)
	}
}

// A request with a Transfer-Encoding is refused (501) and its connection closed, on every path: with a
// Content-Length beside it, net/http would read the chunked body while a proxy in front may read the
// Content-Length, and what one takes for a body the other takes for the next request.
func TestTransferEncodingRefused(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t)})
	defer s.Close()
	api := s.APIAddr().String()
	smuggled := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	for _, path := range []string{"/", "/console/login", "/healthz"} {
		c := dialHTTP(t, api, "127.0.0.1")
		req := "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
			"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
		code, body := exchange(t, c, req)
		if code != http.StatusNotImplemented || !strings.Contains(body, "UnsupportedTransferEncoding") {
			t.Errorf("%s with Transfer-Encoding and Content-Length: %d %s, want 501 UnsupportedTransferEncoding", path, code, body)
		}
		if !closedByServer(c) {
			t.Errorf("%s: the connection stays open after the refusal", path)
		}
	}
	if code, _ := exchange(t, dialHTTP(t, api, "127.0.0.1"), "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); code == http.StatusNotImplemented {
		t.Errorf("a plain POST: %d", code)
	}
}

// /metrics and /readyz's details are for the holder of the status token (or the metrics listener):
// a stranger learns neither instance IDs nor backend addresses.
func TestStatusEndpointsQuietToStrangers(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), MetricsListen: "127.0.0.1:0"})
	defer s.Close()
	insts, _ := s.Plane().Instances()
	id := insts[0].ID
	api := "http://" + s.APIAddr().String()
	for _, tok := range []string{"", "wrong-token-of-some-length", " " + s.StatusToken()} {
		code, body := getStatus(t, api+"/metrics", tok)
		if code != http.StatusUnauthorized || strings.Contains(body, id) {
			t.Errorf("/metrics with token %q: %d, body names the instance: %v", tok, code, strings.Contains(body, id))
		}
	}
	if code, body := getStatus(t, api+"/metrics", s.StatusToken()); code != http.StatusOK || !strings.Contains(body, id) {
		t.Errorf("/metrics with the status token: %d, names the instance: %v", code, strings.Contains(body, id))
	}
	if code, body := getStatus(t, api+"/readyz", ""); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz without the token: %d %q", code, body)
	}
	open := "http://" + s.MetricsAddr().String()
	if code, body := getStatus(t, open+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, id) {
		t.Errorf("/metrics on --metrics-listen: %d, names the instance: %v", code, strings.Contains(body, id))
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := getStatus(t, open+path, ""); code != http.StatusOK {
			t.Errorf("%s on --metrics-listen: %d", path, code)
		}
	}
	if code, _ := getStatus(t, open+"/?Action=DescribeInstances", ""); code != http.StatusNotFound {
		t.Errorf("the API on --metrics-listen: %d, want 404", code)
	}
}

// Behind a shared proxy every user has the proxy's address: only for a configured trusted proxy does
// moat take the client from X-Forwarded-For (the last address not itself a trusted proxy), so that
// one user's failed logins do not lock out the others; any other peer's header is ignored, so it cannot
// dodge the limit by inventing addresses. A trusted proxy is exempt from the per-address connection cap.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), TrustedProxies: []string{"127.0.0.2"}, HTTP: HTTPLimits{MaxConnsPerAddr: 2}})
	defer s.Close()
	api := s.APIAddr().String()
	login := func(peer, xff string) int {
		t.Helper()
		code, _ := exchange(t, dialHTTP(t, api, peer), wrongKeyLogin("127.0.0.1", "X-Forwarded-For: "+xff+"\r\n"))
		return code
	}
	for i := range 5 {
		if code := login("127.0.0.2", "203.0.113.7"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d of 203.0.113.7 through the proxy: %d", i+1, code)
		}
	}
	for xff, want := range map[string]int{
		"203.0.113.7":              http.StatusTooManyRequests, // blocked
		"203.0.113.8, 203.0.113.7": http.StatusTooManyRequests, // what precedes the proxy's own entry is the client's to write
		"203.0.113.7, 127.0.0.2":   http.StatusTooManyRequests, // a trusted hop is skipped
		"203.0.113.8":              http.StatusUnauthorized,    // another user of the same proxy is not locked out
	} {
		if code := login("127.0.0.2", xff); code != want {
			t.Errorf("through the trusted proxy, X-Forwarded-For %q: %d, want %d", xff, code, want)
		}
	}
	for i := range 5 {
		login("127.0.0.3", "198.51.100."+strconv.Itoa(i)) // an untrusted peer's header is ignored
	}
	if code := login("127.0.0.3", "198.51.100.99"); code != http.StatusTooManyRequests {
		t.Errorf("untrusted peer inventing X-Forwarded-For addresses: %d, want 429 after 5 failures", code)
	}
	for range 3 {
		c := dialHTTP(t, api, "127.0.0.2")
		if code, _ := exchange(t, c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); code != http.StatusOK {
			t.Fatalf("trusted proxy's connection over the per-address cap: %d, want 200", code)
		}
	}
}

// The config file's API settings apply when no flag sets them.
func TestAPISettingsFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfg, "api_max_conns_per_addr: 1\napi_hosts: [moat.example.com]\napi_trusted_proxies: [127.0.0.9]\nmetrics_listen: 127.0.0.1:0\n"+
		"instances:\n  - id: r-cfg\n    listen: ["+freeAddr(t)+"]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer s.Close()
	api := s.APIAddr().String()
	dialHTTP(t, api, "127.0.0.2")
	if code, _ := exchange(t, dialHTTP(t, api, "127.0.0.2"), ""); code != http.StatusTooManyRequests {
		t.Errorf("2nd connection with api_max_conns_per_addr 1: %d, want 429", code)
	}
	if code, _ := exchange(t, dialHTTP(t, api, "127.0.0.3"), "GET /healthz HTTP/1.1\r\nHost: moat.example.com\r\n\r\n"); code != http.StatusOK {
		t.Errorf("Host from api_hosts: %d, want 200", code)
	}
	if s.MetricsAddr() == nil {
		t.Error("metrics_listen not served")
	}
	if s.opts.TrustedProxies[0] != "127.0.0.9" {
		t.Errorf("api_trusted_proxies not taken: %v", s.opts.TrustedProxies)
	}
}

// The per-address cap counts an IPv6 /64 as one source (an attacker holding a /64 has 2^64
// addresses); the total cap is at most a quarter of the open-file limit.
func TestConnCapsSources(t *testing.T) {
	l := newCappedListener(nil, 10, 2, func(netip.Addr) bool { return false }, func(string) {})
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff:9"} {
		if why := l.take(netip.MustParseAddr(a)); why != "" {
			t.Fatalf("%s: refused (%s)", a, why)
		}
	}
	for a, want := range map[string]string{"2001:db8:1:2:abcd::1": "per_address", "2001:db8:1:3::1": "", "::ffff:192.0.2.1": ""} {
		if why := l.take(netip.MustParseAddr(a)); why != want {
			t.Errorf("%s: %q, want %q", a, why, want)
		}
	}
	l.release(netip.MustParseAddr("2001:db8:1:2::1"))
	if why := l.take(netip.MustParseAddr("2001:db8:1:2::5")); why != "" {
		t.Errorf("after a release in the /64: refused (%s)", why)
	}
	for _, c := range []struct {
		configured int
		limit      uint64
		want       int
	}{{1024, 0, 1024}, {1024, 1 << 20, 1024}, {1024, 1024, 256}, {1024, 2, 1}} {
		if got := connCap(c.configured, c.limit); got != c.want {
			t.Errorf("connCap(%d, limit %d) = %d, want %d", c.configured, c.limit, got, c.want)
		}
	}
}

// A trusted proxy may instead name the client with a PROXY protocol header (v1 here) at the start of its
// connection; from any other peer such a header is a malformed request.
func TestTrustedProxyProtocolNamesTheClient(t *testing.T) {
	s := start(t, Options{DataDir: t.TempDir(), Listen: freeAddr(t), TrustedProxies: []string{"127.0.0.2"}})
	defer s.Close()
	api := s.APIAddr().String()
	login := func(peer, client string) int {
		t.Helper()
		code, _ := exchange(t, dialHTTP(t, api, peer), "PROXY TCP4 "+client+" 127.0.0.1 40000 6390\r\n"+wrongKeyLogin("127.0.0.1", ""))
		return code
	}
	for i := range 5 {
		if code := login("127.0.0.2", "203.0.113.7"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d of 203.0.113.7 through the proxy: %d", i+1, code)
		}
	}
	if code := login("127.0.0.2", "203.0.113.7"); code != http.StatusTooManyRequests {
		t.Errorf("6th failure of 203.0.113.7: %d, want 429", code)
	}
	if code := login("127.0.0.2", "203.0.113.8"); code != http.StatusUnauthorized {
		t.Errorf("another client of the same proxy: %d, want 401 (not locked out)", code)
	}
	if code := login("127.0.0.3", "203.0.113.9"); code != http.StatusBadRequest {
		t.Errorf("PROXY header from an untrusted peer: %d, want 400", code)
	}
	if code, _ := exchange(t, dialHTTP(t, api, "127.0.0.2"), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); code != http.StatusOK {
		t.Errorf("trusted proxy without a PROXY header: /healthz %d", code)
	}
	// A v2 header naming a UDP client (no TCP client to name) is a malformed request, as a header from an
	// untrusted peer is: not served as the proxy's own.
	udp := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UDPv4,
		SourceAddr:      &net.UDPAddr{IP: net.IPv4(203, 0, 113, 10), Port: 1},
		DestinationAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6390}}
	b, err := udp.Format()
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := exchange(t, dialHTTP(t, api, "127.0.0.2"), string(b)+"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); code != http.StatusBadRequest {
		t.Errorf("a PROXY header naming a UDP client: /healthz %d, want 400", code)
	}
}
