//go:build linux

package firewall_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moat-dev/moat/internal/controlplane/firewall"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// The rendered ruleset, loaded by the real nft into a network namespace the test creates, enforces the
// group's semantics on real connections: a client namespace with two addresses (10.77.0.2, .3) talks over
// a veth pair to a server namespace (10.77.0.1) that loads the ruleset. It needs root, iproute2 and
// nftables (scripts/test-deps.sh installs them); where namespaces cannot be created it skips and says why.
func TestRulesetInNetworkNamespace(t *testing.T) {
	t.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin") // ip and nft live in sbin
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s not installed (scripts/test-deps.sh installs iproute2 and nftables)", tool)
		}
	}
	srv, cli := fmt.Sprintf("moat-fw-s%d", os.Getpid()), fmt.Sprintf("moat-fw-c%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", srv).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: this machine cannot create network namespaces (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	run(t, "ip", "netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	run(t, "ip", "-n", srv, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", cli)
	run(t, "ip", "-n", srv, "addr", "add", "10.77.0.1/24", "dev", "vs")
	run(t, "ip", "-n", cli, "addr", "add", "10.77.0.2/24", "dev", "vc")
	run(t, "ip", "-n", cli, "addr", "add", "10.77.0.3/24", "dev", "vc")
	for _, ns := range []string{srv, cli} {
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", srv, "link", "set", "vs", "up")
	run(t, "ip", "-n", cli, "link", "set", "vc", "up")

	for _, p := range []int{6379, 8001, 8005, 9000, 7777} {
		listen(t, srv, fmt.Sprintf("10.77.0.1:%d", p))
	}
	for _, p := range []int{7000, 7001} {
		listen(t, cli, fmt.Sprintf("10.77.0.2:%d", p))
	}
	if !dial(t, cli, "10.77.0.3", "10.77.0.1:6379") {
		t.Fatal("no connection before any ruleset: the namespaces are not wired")
	}

	rule := func(dir, proto, ports, cidr, policy string, prio int) model.Rule {
		spec := model.RuleSpec{Direction: dir, IpProtocol: proto, PortRange: ports, Policy: policy, Priority: fmt.Sprint(prio)}
		if dir == model.Ingress {
			spec.SourceCidrIp = cidr
		} else {
			spec.DestCidrIp = cidr
		}
		r, err := spec.Rule()
		if err != nil {
			t.Fatal(err)
		}
		r.ID = model.NewRuleID()
		return r
	}
	g := model.SecurityGroup{ID: "sg-nstest", Name: "namespace test", Rules: []model.Rule{
		rule("ingress", "tcp", "6379/6379", "10.77.0.2", "accept", 1),
		rule("ingress", "tcp", "8000/8010", "10.77.0.0/24", "accept", 5),
		rule("ingress", "tcp", "8005/8005", "10.77.0.3", "drop", 5), // drop wins at equal priority
		rule("ingress", "tcp", "9000/9000", "10.77.0.0/24", "accept", 2),
		rule("ingress", "tcp", "9000/9000", "10.77.0.0/24", "drop", 1), // priority 1 first
		rule("egress", "tcp", "7001/7001", "10.77.0.2", "accept", 1),
		rule("egress", "all", "-1/-1", "0.0.0.0/0", "drop", 100), // answers to accepted connections still leave: stateful
	}}
	file := filepath.Join(t.TempDir(), "sg.nft")
	if err := os.WriteFile(file, []byte(firewall.Nftables(g)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", srv, "nft", "-f", file)
	run(t, "ip", "netns", "exec", srv, "nft", "-f", file) // loading again replaces the table

	for _, c := range []struct {
		ns, from, to string
		want         bool
		why          string
	}{
		{cli, "10.77.0.2", "10.77.0.1:6379", true, "accepted source and port"},
		{cli, "10.77.0.3", "10.77.0.1:6379", false, "other source: default deny"},
		{cli, "10.77.0.2", "10.77.0.1:8001", true, "port inside a range"},
		{cli, "10.77.0.3", "10.77.0.1:8001", true, "range for the whole block"},
		{cli, "10.77.0.2", "10.77.0.1:8005", true, "drop names another source"},
		{cli, "10.77.0.3", "10.77.0.1:8005", false, "drop before accept at equal priority"},
		{cli, "10.77.0.2", "10.77.0.1:9000", false, "priority 1 drop before priority 2 accept"},
		{cli, "10.77.0.2", "10.77.0.1:7777", false, "no rule: default deny"},
		{srv, "10.77.0.1", "10.77.0.2:7001", true, "egress accept before the drop-all"},
		{srv, "10.77.0.1", "10.77.0.2:7000", false, "egress drop-all"},
	} {
		if got := dial(t, c.ns, c.from, c.to); got != c.want {
			t.Errorf("%s → %s (%s): connected=%v, want %v", c.from, c.to, c.why, got, c.want)
		}
	}
	t.Logf("ruleset enforced in namespaces %s/%s: %d rules checked with real connections", srv, cli, len(g.Rules))
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// inNS runs fn on an OS thread switched into the named network namespace; sockets fn creates belong to
// it. The thread is never switched back: it ends with the goroutine.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // not unlocked: the runtime discards the thread
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("entering namespace %s: %v", ns, err)
	}
}

// listen serves addr in namespace ns: each connection is answered "ok\n" and closed.
func listen(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	inNS(t, ns, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
}

// dial connects from the address from in namespace ns and reports whether the server's answer arrived.
func dial(t *testing.T, ns, from, to string) bool {
	t.Helper()
	ok := false
	inNS(t, ns, func() {
		d := net.Dialer{Timeout: 400 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", to)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		ok = err == nil && line == "ok\n"
	})
	return ok
}
