package gateway_test

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/gateway"
)

// maxclients: the connection over the limit gets Redis's text and is closed; a freed place is taken.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	snap := allowLoopback(t)
	snap.MaxClients = 3
	e := newEnv(t, snap)
	var open []*client
	for i := 0; i < 3; i++ {
		c := dial(t, e.addr, "127.0.0.2")
		c.expect2("PING", "+PONG\r\n")
		open = append(open, c)
	}
	over := dial(t, e.addr, "127.0.0.3")
	over.expect(maxClientsText)
	over.expectEOF(replyTimeout)
	if got := e.refused("max_clients"); got != 1 {
		t.Errorf("refused{max_clients} = %v, want 1", got)
	}
	open[0].c.Close()
	if !eventually(replyTimeout, func() bool {
		c, err := dialErr(e.addr, "127.0.0.3")
		if err != nil {
			return false
		}
		defer c.c.Close()
		c.t = t
		c.send(cmd("PING"))
		r, _ := c.readReplyErr(replyTimeout)
		return r == "+PONG\r\n"
	}) {
		t.Fatal("a freed place was not taken")
	}
	// Raised live: new connections are admitted at once.
	snap = allowLoopback(t)
	snap.MaxClients = 10
	e.gw.Publish(snap)
	dial(t, e.addr, "127.0.0.4").expect2("PING", "+PONG\r\n")
}

// maxclients-per-ip counts connections per client address; switching it on counts those already open.
func TestMaxClientsPerIP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, allowLoopback(t))
	early := dial(t, e.addr, "127.0.0.2")
	early.expect2("PING", "+PONG\r\n")
	snap := allowLoopback(t)
	snap.MaxClientsPerIP = 2
	e.gw.Publish(snap)
	second := dial(t, e.addr, "127.0.0.2")
	second.expect2("PING", "+PONG\r\n")
	third := dial(t, e.addr, "127.0.0.2")
	third.expect(maxClientsText)
	third.expectEOF(replyTimeout)
	dial(t, e.addr, "127.0.0.3").expect2("PING", "+PONG\r\n") // another address has its own count
	early.c.Close()
	if !eventually(replyTimeout, func() bool {
		c, err := dialErr(e.addr, "127.0.0.2")
		if err != nil {
			return false
		}
		defer c.c.Close()
		c.t = t
		c.send(cmd("PING"))
		r, _ := c.readReplyErr(replyTimeout)
		return r == "+PONG\r\n"
	}) {
		t.Fatal("a place freed by 127.0.0.2 was not taken")
	}
	// Off again: no limit.
	e.gw.Publish(allowLoopback(t))
	for i := 0; i < 3; i++ {
		dial(t, e.addr, "127.0.0.2").expect2("PING", "+PONG\r\n")
	}
}

// N1: a busy or missing address is a start-up error naming the instance and the address; nothing is
// left listening.
func TestBindErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	cases := []struct {
		listen []string
		want   error
		text   string
	}{
		{[]string{freeAddr, busy.Addr().String()}, gateway.ErrAddrInUse, "instance r-test: listen on " + busy.Addr().String()},
		{[]string{"192.0.2.1:0"}, gateway.ErrAddrNotAvail, "instance r-test: listen on 192.0.2.1:0"},
	}
	for _, c := range cases {
		_, err := gateway.Start(gateway.Config{ID: "r-test", Listen: c.listen, Log: testLogger(t), Metrics: gateway.NewMetrics()}, allowLoopback(t))
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("Start(%v) = %v, want %v naming %q", c.listen, err, c.want, c.text)
		}
	}
	// The first address of the failed start was released. Binding it again can also fail because a
	// parallel test's connection took the freed port as its own; then nothing may accept on it.
	if ln, err := net.Listen("tcp", freeAddr); err == nil {
		ln.Close()
	} else if c, derr := net.DialTimeout("tcp", freeAddr, time.Second); derr == nil {
		c.Close()
		t.Errorf("%s still accepts connections after a failed start (bind: %v)", freeAddr, err)
	}
	// TLS listen addresses are named as such.
	f := newTLSFixture(t)
	_, err = gateway.Start(gateway.Config{ID: "r-test", TLSListen: []string{busy.Addr().String()}, TLS: f.source(t, f.options("no")),
		Log: testLogger(t), Metrics: gateway.NewMetrics()}, allowLoopback(t))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "instance r-test: listen (TLS) on "+busy.Addr().String()) {
		t.Errorf("TLS on a busy address: %v", err)
	}
}

// N1: IPv4 and IPv6 wildcards on the same port, as redis.conf's "bind * -::*": both bind (the IPv6 one
// IPv6-only) and clients of each family get through.
func TestBindIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	if !ipv6Loopback() {
		t.Skip("IPv6 is not available on this machine: ::1 cannot be bound")
	}
	probe, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	p := strconvItoa(port)
	e := newEnv(t, allowLoopback(t), withListen("0.0.0.0:"+p, "[::]:"+p))
	if len(e.gw.Addrs()) != 2 {
		t.Fatalf("bound %v", e.gw.Addrs())
	}
	for _, to := range []string{"127.0.0.1:" + p, "[::1]:" + p} {
		c := dial(t, to, "")
		if info := c.do("CLIENT", "INFO"); !strings.Contains(info, " laddr="+to+" ") {
			t.Errorf("client to %s: CLIENT INFO %q", to, info)
		}
	}
}
