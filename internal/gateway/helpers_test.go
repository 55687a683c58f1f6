package gateway_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// replyTimeout bounds every read of a reply in these tests: long enough for -race on a busy machine,
// short enough that a hang fails the test instead of the whole package.
const replyTimeout = 10 * time.Second

// Wire texts a client sees from moat itself.
const (
	illegalAddress     = "-ERR illegal address\r\n"
	backendUnavailable = "-ERR backend unavailable, try again later\r\n"
)

// group builds a whitelist group from a SecurityIpList-style entry list ("10.0.0.1,10.0.0.0/24").
func group(t testing.TB, name, list string) allowlist.Group {
	t.Helper()
	ps, err := allowlist.ParseList(list)
	if err != nil {
		t.Fatalf("ParseList(%q): %v", list, err)
	}
	return allowlist.Group{Name: name, Entries: ps}
}

// compile builds the snapshot of instance r-test with these groups and no bound security group, with
// the default limits and no idle timeout. (Built by hand rather than with controlplane.Compile, so that the
// data plane's tests do not depend on the control plane's.)
func compile(groups []allowlist.Group) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Instance:     "r-test",
		Allow:        allowlist.Compile(groups, nil),
		Limits:       resp.DefaultLimits(),
		ACLLogMaxLen: 128,
		SharedLanes:  testLanes,
	}
}

// testLanes is the shared-lanes parameter of the tests' snapshots: moat's default (2), or
// MOAT_TEST_SHARED_LANES (make test runs this package again with 0, for the dedicated lane alone).
var testLanes = func() int {
	if v, ok := os.LookupEnv("MOAT_TEST_SHARED_LANES"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			panic("MOAT_TEST_SHARED_LANES must be a number of lanes, 0 or more: " + v)
		}
		return n
	}
	return 2
}()

// dropOnRevoke returns s with the drop-on-revoke parameter on.
func dropOnRevoke(s *snapshot.Snapshot) *snapshot.Snapshot {
	s.DropOnRevoke = true
	return s
}

// allowLoopback is a snapshot that admits every 127.0.0.0/8 and ::1 client.
func allowLoopback(t testing.TB) *snapshot.Snapshot {
	return compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,::1")})
}

// testLogger sends the gateway's log to the test log when -v is given, and discards it otherwise.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// env is one gateway instance in front of one real redis-server.
type env struct {
	t       testing.TB
	srv     *redistest.Server
	be      backend.Backend
	gw      *gateway.Instance
	reg     *prometheus.Registry
	listen  []string
	addr    string // the first listener's address
	metrics *gateway.Metrics
}

type envOption func(*gateway.Config)

// withListen replaces the listen addresses (default "127.0.0.1:0").
func withListen(addrs ...string) envOption {
	return func(c *gateway.Config) { c.Listen = addrs }
}

// newEnv starts redis-server, opens it as the backend and starts a gateway serving snap. Everything is
// stopped when the test ends.
func newEnv(t testing.TB, snap *snapshot.Snapshot, opts ...envOption) *env {
	t.Helper()
	srv := redistest.Start(t)
	be, err := backend.Open("redis://"+srv.Addr, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	t.Cleanup(func() { be.Close() })
	m := gateway.NewMetrics()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatalf("register metrics: %v", err)
	}
	cfg := gateway.Config{
		ID:      "r-test",
		Listen:  []string{"127.0.0.1:0"},
		Backend: be,
		Log:     testLogger(t),
		Metrics: m,
	}
	for _, o := range opts {
		o(&cfg)
	}
	gw, err := gateway.Start(cfg, snap)
	if err != nil {
		t.Fatalf("gateway.Start: %v", err)
	}
	t.Cleanup(func() { gw.Close() })
	e := &env{t: t, srv: srv, be: be, gw: gw, reg: reg, listen: cfg.Listen, metrics: m}
	e.addr = gw.Addrs()[0].String()
	return e
}

// counter returns the value of the counter name with the given labels (0 when the series does not exist).
func (e *env) counter(name string, labels map[string]string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func (e *env) refused(reason string) float64 {
	return e.counter("moat_connections_refused_total", map[string]string{"instance": "r-test", "reason": reason})
}

// client is a raw RESP client.
type client struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// dial connects to addr from the source IP from ("" lets the kernel choose).
func dial(t testing.TB, addr, from string) *client {
	t.Helper()
	c, err := dialErr(addr, from)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	return c.attach(t)
}

func dialErr(addr, from string) (*client, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &client{c: c, br: bufio.NewReaderSize(c, 64*1024)}, nil
}

func (c *client) attach(t testing.TB) *client {
	c.t = t
	t.Cleanup(func() { c.c.Close() })
	return c
}

// cmd encodes a command as a RESP multibulk.
func cmd(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

// send writes raw bytes.
func (c *client) send(raw string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatalf("send %q: %v", truncate(raw), err)
	}
}

// do sends one command and returns its reply.
func (c *client) do(args ...string) string {
	c.t.Helper()
	c.send(cmd(args...))
	return c.readReply()
}

// readReplyErr reads one raw reply frame within d.
func (c *client) readReplyErr(d time.Duration) (string, error) {
	c.c.SetReadDeadline(time.Now().Add(d))
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	err := resp.CopyReply(bw, c.br, nil)
	bw.Flush()
	return out.String(), err
}

// readReply reads one raw reply frame.
func (c *client) readReply() string {
	c.t.Helper()
	r, err := c.readReplyErr(replyTimeout)
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q so far)", err, truncate(r))
	}
	return r
}

// expect reads one reply and compares it with want.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.readReply(); got != want {
		c.t.Fatalf("reply %q, want %q", truncate(got), truncate(want))
	}
}

// expectEOF asserts that the server closes the connection within d without sending anything more.
func (c *client) expectEOF(d time.Duration) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(d))
	b, err := c.br.ReadByte()
	if err == nil {
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("want EOF, got more bytes: %q", truncate(string(b)+string(rest)))
	}
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("want EOF within %v, got %v", d, err)
	}
}

// expectNothing asserts that nothing arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.Peek(1); err == nil {
		rest, _ := c.br.Peek(c.br.Buffered())
		c.t.Fatalf("want nothing for %v, got %q", d, truncate(string(rest)))
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		c.t.Fatalf("want nothing for %v, got %v", d, err)
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}

// bulk is the RESP encoding of a bulk string.
func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// array is the RESP2 encoding of an array of already encoded elements.
func array(elems ...string) string {
	return "*" + strconv.Itoa(len(elems)) + "\r\n" + strings.Join(elems, "")
}

// push is the RESP3 encoding of a push of already encoded elements.
func push(elems ...string) string {
	return ">" + strconv.Itoa(len(elems)) + "\r\n" + strings.Join(elems, "")
}

// ipv6Loopback reports whether ::1 can be bound here.
func ipv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
