package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/etcdtest"
	"github.com/moat-dev/moat/internal/redistest"
)

// gateway is one `moat serve --store etcd` process of a fleet, on its own loopback address.
type gateway struct {
	*proc
	host, api, dir string
}

// serveGateway starts gateway name on host (127.0.0.x) in front of backend, serving the default
// instance on port, its state in etcd at endpoint. It waits until the gateway serves.
func serveGateway(t *testing.T, bin, endpoint, name, host, port, backend string) *gateway {
	t.Helper()
	g := &gateway{host: host, dir: t.TempDir()}
	cmd := exec.Command(bin, "serve", "--store", "etcd", "--etcd-endpoints", endpoint, "--etcd-prefix", "/moat-"+t.Name()+"/",
		"--gateway-name", name, "--listen-host", host, "--listen", "127.0.0.1:"+port, "--backend", "redis://"+backend,
		"--api-listen", host+":0", "--data-dir", g.dir)
	g.proc = &proc{cmd: cmd}
	cmd.Stderr = &g.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(g.stderr.String(), `msg="moat started"`) {
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s did not start:\n%s", name, g.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The API listener's address, bound on port 0, is in the start line: api_listen=host:port.
	_, rest, _ := strings.Cut(g.stderr.String(), `msg="moat started"`)
	_, rest, _ = strings.Cut(rest, "api_listen=")
	g.api, _, _ = strings.Cut(rest, " ")
	return g
}

// freePortOn returns a port free on host.
func freePortOn(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// on returns c pointed at gateway g's API.
func on(c *cli.Client, g *gateway) *cli.Client {
	cc := *c
	cc.Endpoint = "http://" + g.api
	return &cc
}

// Kill -9 a gateway of a fleet during a stream of whitelist changes made through it: every change it
// acknowledged is in etcd (read through another gateway, which never stopped), and no change is half
// applied — each entry present has its audit record, and each audit record its entry.
func TestFleetKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	endpoint := etcdtest.Embedded(t)
	redis := redistest.Start(t)
	port := freePortOn(t, "127.0.0.1")
	a := serveGateway(t, bin, endpoint, "gw-a", "127.0.0.2", port, redis.Addr)
	b := serveGateway(t, bin, endpoint, "gw-b", "127.0.0.3", port, redis.Addr)
	admin := on(client(t, a.dir), a)
	id := instanceID(t, admin)

	acked := 0
	killed := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		killed <- storetest.Kill(a.cmd)
	}()
	for i := 0; ; i++ {
		err := admin.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": fmt.Sprintf("g%d", i%20),
			"ModifyMode": "Append", "SecurityIps": fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)}, nil)
		if err != nil {
			break
		}
		acked = i + 1
	}
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	if acked < 10 {
		t.Fatalf("only %d changes acknowledged before the kill", acked)
	}

	viaB := on(admin, b)
	have := whitelisted(t, viaB, id, "g")
	for i := range acked {
		if e := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256); !have[e] {
			t.Fatalf("acknowledged change %d (%s) lost when its gateway was killed (%d acknowledged)", i, e, acked)
		}
	}
	var audit struct {
		AuditLogs struct {
			AuditLog []struct{ Gateway string }
		}
	}
	if err := viaB.Call("DescribeAuditLogs", map[string]string{"InstanceId": id, "ActionName": "ModifySecurityIps", "PageSize": "1000"}, &audit); err != nil {
		t.Fatal(err)
	}
	if n := len(audit.AuditLogs.AuditLog); n != len(have) {
		t.Fatalf("%d entries present but %d ModifySecurityIps audit records: a change was half applied", len(have), n)
	}
	for _, e := range audit.AuditLogs.AuditLog {
		if e.Gateway != "gw-a" {
			t.Fatalf("audit record names gateway %q, want gw-a", e.Gateway)
		}
	}
	t.Logf("%d acknowledged, %d committed (entry and audit record together), all read through the surviving gateway", acked, len(have))
}

// The fleet behind HAProxy, as README's "Running a fleet" describes it: three gateways on one etcd,
// Debian's HAProxy in front sending PROXY protocol v2, the instance trusting the balancer. Every gateway
// judges the client's own address (a whitelisted client is served through each, another is refused by
// each); then a gateway is killed while clients run, and they reconnect through the balancer and are
// served.
func TestFleetBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary, etcd and HAProxy")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy"
	}
	bin := buildMoat(t)
	endpoint := etcdtest.Embedded(t)
	redis := redistest.Start(t)
	port := freePortOn(t, "127.0.0.1")
	var gws []*gateway
	for i := range 3 {
		host := fmt.Sprintf("127.0.0.%d", i+2)
		gws = append(gws, serveGateway(t, bin, endpoint, fmt.Sprintf("gw%d", i+1), host, port, redis.Addr))
	}
	admin := on(client(t, gws[0].dir), gws[0])
	id := instanceID(t, admin)
	if err := admin.Call("ModifyInstanceConfig", map[string]string{"InstanceId": id, "Config": `{"proxy-protocol":"127.0.0.1"}`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "app", "SecurityIps": "127.0.0.7"}, nil); err != nil {
		t.Fatal(err)
	}

	front := freePortOn(t, "127.0.0.1")
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	var servers strings.Builder
	for i, g := range gws {
		fmt.Fprintf(&servers, "    server gw%d %s:%s\n", i+1, g.host, port)
	}
	os.WriteFile(cfg, []byte(`global
    maxconn 1000
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option redispatch
    retries 3
frontend redis
    bind 127.0.0.1:`+front+`
    default_backend moat
backend moat
    balance roundrobin
    source 127.0.0.1
    default-server send-proxy-v2 check check-send-proxy inter 200ms fall 1 rise 2 on-marked-down shutdown-sessions
`+servers.String()), 0o600)
	hp := exec.Command(haproxy, "-db", "-f", cfg)
	var hpLog redistest.Buffer
	hp.Stdout, hp.Stderr = &hpLog, &hpLog
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Process.Kill(); hp.Wait() })
	lb := "127.0.0.1:" + front

	// Round robin over three gateways: six connections from each client reach every gateway twice, and
	// each judges the client's own address, carried in the PROXY header.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(dialDo(lb, "127.0.0.7", "PING"), "+PONG") {
		if time.Now().After(deadline) {
			t.Fatalf("no PONG through HAProxy:\n%s", hpLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 6 {
		if got := dialDo(lb, "127.0.0.7", "PING"); got != "+PONG" {
			t.Fatalf("whitelisted 127.0.0.7 through HAProxy: %q", got)
		}
		if got := dialDo(lb, "127.0.0.8", "PING"); got != "-ERR illegal address" {
			t.Fatalf("127.0.0.8 (not whitelisted) through HAProxy: %q", got)
		}
	}

	// Clients run; gateway 2 is killed; each client reconnects through the balancer when its connection
	// drops and must be served again.
	var served, reconnects atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := make(chan string, 100)
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runClient(lb, c, stop, &served, &reconnects, failures)
		}()
	}
	time.Sleep(500 * time.Millisecond)
	before := served.Load()
	if err := gws[1].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	gws[1].cmd.Wait()
	time.Sleep(2 * time.Second)
	mid := served.Load()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	after := served.Load()
	if before == 0 || after-mid == 0 {
		t.Fatalf("commands served: %d before the kill, %d in the last 500 ms after it", before, after-mid)
	}
	if reconnects.Load() == 0 {
		t.Fatalf("no client had to reconnect: did the killed gateway serve none? (%d served)", after)
	}
	t.Logf("%d commands served; %d reconnections after gateway 2 was killed", after, reconnects.Load())
}

// dialDo connects from src to addr, sends cmd inline and returns the first reply line ("dial: …" on
// failure).
func dialDo(addr, src, cmd string) string {
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte(cmd + "\r\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "read: " + err.Error()
	}
	return strings.TrimSpace(line)
}

// runClient sets and reads its own key through the balancer from 127.0.0.7 until stop, reconnecting
// whenever its connection drops; a wrong reply is a failure, a dropped connection is not.
func runClient(lb string, n int, stop <-chan struct{}, served, reconnects *atomic.Int64, failures chan<- string) {
	key := "fleet:" + strconv.Itoa(n)
	first := true
	for {
		select {
		case <-stop:
			return
		default:
		}
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.7")}}
		c, err := d.Dial("tcp", lb)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if !first {
			reconnects.Add(1)
		}
		first = false
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			select {
			case <-stop:
				c.Close()
				return
			default:
			}
			c.SetDeadline(time.Now().Add(3 * time.Second))
			v := strconv.Itoa(i)
			if _, err := fmt.Fprintf(c, "SET %s %s\r\nGET %s\r\n", key, v, key); err != nil {
				break
			}
			ok, err1 := br.ReadString('\n')
			_, err2 := br.ReadString('\n')
			got, err3 := br.ReadString('\n')
			if err1 != nil || err2 != nil || err3 != nil {
				break // the gateway went away: reconnect
			}
			if strings.TrimSpace(ok) != "+OK" || strings.TrimSpace(got) != v {
				failures <- fmt.Sprintf("client %d: SET/GET %s answered %q, %q", n, v, ok, got)
				c.Close()
				return
			}
			served.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
		c.Close()
	}
}
