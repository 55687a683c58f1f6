package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

// rawExchange writes each payload on one TCP connection to addr, as it is (no HTTP client in between),
// and reads one response after each. A payload the server stops reading midway is fine: the answer is
// read all the same.
func rawExchange(t *testing.T, addr string, payloads ...string) []*http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for _, p := range payloads {
		go c.Write([]byte(p)) // the server may answer before it has read everything
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the answer to %.60q: %v", p, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the body of the answer to %.60q: %v", p, err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// wantJSONAnswer checks an answer is the provider's JSON error with status and code and returns its
// fields.
func wantJSONAnswer(t *testing.T, resp *http.Response, status int, code string) map[string]string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	body, _ := io.ReadAll(resp.Body)
	return wantErrorJSON(t, resp.StatusCode, body, status, code)
}

// Every error a client can get from the API listener's HTTP layer — including those net/http answers
// by itself before any handler runs — is the provider's JSON, with a RequestId and a stable Code.
func TestHTTPLevelErrorsAreJSON(t *testing.T) {
	m := startMoat(t)
	big := strings.Repeat("a", 80<<10)
	cases := []struct {
		name, request string
		status        int
		code, message string
	}{
		{"headers over 64 KiB", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + big + "\r\n\r\n", 431, "RequestHeaderTooLarge", "larger than moat accepts"},
		{"request line over 64 KiB", "GET /?" + big + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 431, "RequestHeaderTooLarge", "larger than moat accepts"},
		{"many small headers", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + strings.Repeat("X-A: b\r\n", 12000) + "\r\n", 431, "RequestHeaderTooLarge", ""},
		{"invalid method token", "G(T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "MalformedRequest", "not well-formed"},
		{"not HTTP", "hello there\r\n\r\n", 400, "MalformedRequest", "not well-formed"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "MalformedRequest", "missing required Host header"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "MalformedRequest", ""},
		{"bad header name", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Name: x\r\n\r\n", 400, "MalformedRequest", ""},
		{"HTTP/2.5", "GET / HTTP/2.5\r\nHost: 127.0.0.1\r\n\r\n", 505, "UnsupportedHTTPVersion", "HTTP/1.1"},
		{"unknown Transfer-Encoding", "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "UnsupportedTransferEncoding", "Transfer-Encoding"},
		{"unknown Expect", "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: teapot\r\nContent-Length: 0\r\n\r\n", 417, "UnsupportedExpectation", "Expect"},
		{"method not allowed", "DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "UnsupportedHTTPMethod", "GET or POST"},
		{"unknown path", "GET /no/such/path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404, "InvalidAction.NotFound", ""},
		{"unknown path, other method", "PUT /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", 404, "InvalidAction.NotFound", ""},
		{"foreign Host (DNS rebinding)", "GET /healthz HTTP/1.1\r\nHost: attacker.example\r\n\r\n", 421, "InvalidHost", "--api-host"},
	}
	ids := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := rawExchange(t, m.api, tc.request)[0]
			e := wantJSONAnswer(t, resp, tc.status, tc.code)
			if !strings.Contains(e["Message"], tc.message) {
				t.Errorf("message %q does not say %q", e["Message"], tc.message)
			}
			if strings.Contains(e["Message"], big[:100]) {
				t.Errorf("the message echoes the request")
			}
			if ids[e["RequestId"]] {
				t.Errorf("RequestId %s repeats", e["RequestId"])
			}
			ids[e["RequestId"]] = true
		})
	}
}

// On a kept-alive connection, an error after a good request is JSON too, and closes the connection.
func TestHTTPLevelErrorAfterGoodRequest(t *testing.T) {
	m := startMoat(t)
	out := rawExchange(t, m.api,
		"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: "+strings.Repeat("b", 80<<10)+"\r\n\r\n")
	if out[0].StatusCode != http.StatusOK {
		t.Fatalf("healthz: HTTP %d", out[0].StatusCode)
	}
	wantJSONAnswer(t, out[1], 431, "RequestHeaderTooLarge")
	if !out[1].Close {
		t.Errorf("the connection is not closed after the error")
	}
}

// Plain HTTP sent to a TLS listener stacked on JSONErrors is answered with the provider's JSON, not
// net/http's plain text; TLS clients are served as before.
func TestPlainHTTPToTLSListenerIsJSON(t *testing.T) {
	m := startMoat(t)
	srv := httptest.NewUnstartedServer(api.New(m.srv.Plane(), m.srv, quiet()))
	srv.Listener = api.JSONErrors(srv.Listener)
	srv.StartTLS() // tls.NewListener over the JSONErrors listener
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	resp := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0]
	e := wantJSONAnswer(t, resp, http.StatusBadRequest, "HttpsRequired")
	if !strings.Contains(e["Message"], "https://") || e["HostId"] != addr {
		t.Errorf("answer %v", e)
	}

	res, err := srv.Client().Get(srv.URL + "/?Action=DescribeSecurityIps&Version=2015-01-01")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantErrorJSON(t, res.StatusCode, body, http.StatusBadRequest, "MissingSignature")
}
