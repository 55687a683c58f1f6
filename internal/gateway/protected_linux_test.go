//go:build linux

package gateway_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/snapshot"
)

// outside is a network namespace wired to this one by a veth pair: a client inside it connects from
// a real non-loopback address (peer) to this side's hostIP.
type outside struct {
	ns             string
	hostIP, peerIP string
}

// newOutside creates the namespace, or skips the test saying why the machine cannot.
func newOutside(t *testing.T) *outside {
	t.Helper()
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPED: protected mode from a non-loopback address needs iproute2's ip (scripts/test-deps.sh installs it)")
	}
	id := os.Getpid() % 100000
	o := &outside{ns: fmt.Sprintf("moat-pm-%d", id), hostIP: "198.18.77.1", peerIP: "198.18.77.2"}
	if out, err := exec.Command("ip", "netns", "add", o.ns).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: this machine cannot create a network namespace, so no non-loopback client can be made (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", o.ns).Run() })
	host, peer := fmt.Sprintf("mpm%dh", id), fmt.Sprintf("mpm%dp", id)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("SKIPPED: cannot wire the namespace (ip %s: %v: %s)", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	sh("link", "add", host, "type", "veth", "peer", "name", peer, "netns", o.ns)
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	sh("addr", "add", o.hostIP+"/30", "dev", host)
	sh("link", "set", host, "up")
	sh("-n", o.ns, "addr", "add", o.peerIP+"/30", "dev", peer)
	sh("-n", o.ns, "link", "set", peer, "up")
	sh("-n", o.ns, "link", "set", "lo", "up")
	return o
}

// dial connects from inside the namespace (from peerIP).
func (o *outside) dial(t *testing.T, addr string) *client {
	t.Helper()
	var c net.Conn
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the runtime discards the thread with the goroutine
		f, ferr := os.Open("/run/netns/" + o.ns)
		if ferr != nil {
			err = ferr
			return
		}
		defer f.Close()
		if err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return
		}
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}()
	<-done
	if err != nil {
		t.Fatalf("dial %s from namespace %s: %v", addr, o.ns, err)
	}
	return (&client{c: c, br: bufio.NewReaderSize(c, 64*1024)}).attach(t)
}

// env serves snap on the host side of the veth pair, plain and TLS (no client certificate), and on the
// further plain listen addresses.
func (o *outside) env(t *testing.T, f *tlsFixture, snap *snapshot.Snapshot, listen ...string) *env {
	t.Helper()
	tlsOpt := withTLS(f.source(t, f.options("no")))
	return newEnv(t, snap, withListen(append([]string{o.hostIP + ":0"}, listen...)...), func(c *gateway.Config) {
		tlsOpt(c)
		c.TLSListen = []string{o.hostIP + ":0"}
	})
}

// N2: with protected-mode yes and no password on the default user, a client from a non-loopback
// address gets Redis's -DENIED text and is closed — after the handshake on a TLS listener, so that it
// can read it — while loopback clients are served; protected-mode no lets it in. A real redis-cli in the
// namespace shows the text too.
func TestProtectedModeFromNonLoopback(t *testing.T) {
	o := newOutside(t)
	f := newTLSFixture(t)
	snap := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,"+o.peerIP)})
	snap.ProtectedMode, snap.DefaultUserNoPass = true, true
	// Plain on the host side of the veth pair and on loopback; TLS on the host side.
	e := o.env(t, f, snap, "127.0.0.1:0")
	plainOut := e.gw.Addrs()[0].String()
	plainLo := e.gw.Addrs()[1].String()
	tlsOut := e.gw.TLSAddrs()[0].String()

	c := o.dial(t, plainOut)
	c.expect(deniedText) // without sending anything
	c.expectEOF(replyTimeout)
	lo := dial(t, plainLo, "127.0.0.1")
	lo.expect2("PING", "+PONG\r\n")
	lo2 := dial(t, plainLo, "127.0.0.9") // any 127.* is loopback (Redis 7.2+, Valkey)
	lo2.expect2("PING", "+PONG\r\n")

	raw := o.dial(t, tlsOut)
	tc := tls.Client(raw.c, f.clientConfig(nil))
	tc.SetDeadline(time.Now().Add(replyTimeout))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake from the namespace: %v", err)
	}
	tcl := (&client{c: tc, br: bufio.NewReader(tc)}).attach(t)
	tcl.expect(deniedText)
	tcl.expectEOF(replyTimeout)
	if got := e.refused("protected_mode"); got != 2 {
		t.Errorf("refused{protected_mode} = %v, want 2", got)
	}

	// A real redis-cli inside the namespace.
	host, port, _ := net.SplitHostPort(plainOut)
	out, _ := exec.Command("ip", "netns", "exec", o.ns, "redis-cli", "-h", host, "-p", port, "PING").CombinedOutput()
	if !strings.Contains(string(out), "DENIED Redis is running in protected mode") {
		t.Errorf("redis-cli from the namespace: %q", out)
	}

	// protected-mode no: the same client is served.
	off := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,"+o.peerIP)})
	off.ProtectedMode, off.DefaultUserNoPass = false, true
	e.gw.Publish(off)
	in := o.dial(t, plainOut)
	if info := in.do("CLIENT", "INFO"); !strings.Contains(info, " addr="+o.peerIP+":") {
		t.Errorf("CLIENT INFO from the namespace: %q", info)
	}
	// With a password on the default user (the ACL work sets DefaultUserNoPass), protected mode is off too.
	pw := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,"+o.peerIP)})
	pw.ProtectedMode, pw.DefaultUserNoPass = true, false
	e.gw.Publish(pw)
	o.dial(t, plainOut).expect2("PING", "+PONG\r\n")
}
