package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

// floodAPI opens n connections to the API listener from src and leaves them open: every other one after a
// complete request (idle keep-alive), the rest in the middle of a request body (slow body). Connections
// moat refuses stay open on this side too.
func floodAPI(t *testing.T, api, src string, n int) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	for i := range n {
		c, err := d.Dial("tcp", api)
		if err != nil {
			t.Fatalf("flood connection %d from %s: %v", i, src, err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 0 {
			io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		} else {
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nA")
		}
	}
}

// healthz GETs /healthz at addr from src on a new connection and returns the status code.
func healthz(t *testing.T, addr, src string) int {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("/healthz at %s: %v", addr, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// redisServed checks that n new Redis clients are served through the instance.
func redisServed(t *testing.T, listen string, n int) {
	t.Helper()
	for i := range n {
		c := redistest.DialFrom(t, listen, "127.0.0.1")
		if got := c.Do("PING"); got != "+PONG" && got != "PONG" {
			t.Fatalf("Redis client %d during the flood: %q", i, got)
		}
		c.Close()
	}
}

// Issue 16, finding 1: idle and slow-body API connections, with no credentials, used every descriptor
// moat had, and Redis clients and /healthz were refused. moat here starts with an open-file limit of
// 256 (hard 1024): it raises it to 1024, caps the API at a quarter of that (256), and a source address
// at 100. 2,000 connections from two addresses hold 200 places: /healthz answers on the API listener and
// new Redis clients are served. 1,800 more from 18 addresses fill the API's cap: the API answers 503
// at once, while the metrics listener's /healthz and the data plane keep serving.
func TestAPIFloodLeavesDataPlaneServing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux) to start moat with a low open-file limit")
	}
	bin := buildMoat(t)
	dir := t.TempDir()
	listen, api, metrics := freePort(t), freePort(t), freePort(t)
	p := serveCmd(t, dir, exec.Command("prlimit", "--nofile=256:1024", bin, "serve", "--data-dir", dir, "--listen", listen,
		"--api-listen", api, "--metrics-listen", metrics, "--api-max-conns-per-addr", "100"))
	if log := p.stderr.String(); !strings.Contains(log, "open_file_limit=1024 max_conns=256 max_conns_per_addr=100") {
		t.Fatalf("moat did not raise its open-file limit and cap the API at a quarter of it:\n%s", log)
	}
	c := client(t, dir)
	err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": instanceID(t, c), "SecurityIpGroupName": "local",
		"ModifyMode": "Cover", "SecurityIps": "127.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	floodAPI(t, api, "127.0.0.2", 1000)
	floodAPI(t, api, "127.0.0.3", 1000)
	if code := healthz(t, api, "127.0.0.1"); code != http.StatusOK {
		t.Fatalf("API /healthz with 2,000 flood connections from two addresses: %d", code)
	}
	redisServed(t, listen, 50)

	// MOAT_API_FLOOD_SOURCES: how many more addresses open 100 connections each (default 18; 180 gives
	// the 20,000 in all, with `ulimit -n` above that).
	sources := 18
	if v, err := strconv.Atoi(os.Getenv("MOAT_API_FLOOD_SOURCES")); err == nil && v > 0 && v <= 250 {
		sources = v
	}
	for i := 4; i < 4+sources; i++ {
		floodAPI(t, api, fmt.Sprintf("127.0.%d.%d", i/250, 1+i%250), 100)
	}
	if code := healthz(t, api, "127.0.0.1"); code != http.StatusServiceUnavailable {
		t.Fatalf("API /healthz with the API's cap full: %d, want 503 at once", code)
	}
	if code := healthz(t, metrics, "127.0.0.1"); code != http.StatusOK {
		t.Fatalf("--metrics-listen /healthz with the API's cap full: %d", code)
	}
	redisServed(t, listen, 50)
	if log := p.stderr.String(); strings.Contains(log, "too many open files") {
		t.Fatalf("moat ran out of file descriptors:\n%s", log)
	}
}
