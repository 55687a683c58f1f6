package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/etcdtest"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A fleet in one test process: gateways sharing one etcd, each on its own loopback address
// (--listen-host), serving the default instance on one port in front of one redis-server.
type fleet struct {
	gws     []*Server
	port    string
	backend string      // the redis-server every gateway relays to
	admin   *cli.Client // the administrator key the first gateway wrote, usable on every gateway
	prefix  string
}

// startFleet starts n gateways named gw-1… on 127.0.0.2… against endpoints, one after the other.
func startFleet(t testing.TB, n int, endpoints []string) *fleet {
	t.Helper()
	redis := redistest.Start(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{port: strconv.Itoa(port), backend: redis.Addr, prefix: "/moat-" + strings.ReplaceAll(t.Name(), "/", "-") + "/"}
	for i := range n {
		f.gws = append(f.gws, f.startGateway(t, i, endpoints))
	}
	return f
}

// options are gateway i's: on 127.0.0.(i+2), named gw-(i+1).
func (f *fleet) options(t testing.TB, i int, endpoints []string) Options {
	host := fmt.Sprintf("127.0.0.%d", i+2)
	return Options{
		DataDir: t.TempDir(), Listen: "127.0.0.1:" + f.port, APIListen: host + ":0", Backend: "redis://" + f.backend,
		Store:      StoreOptions{Kind: config.StoreEtcd, Endpoints: endpoints, Prefix: f.prefix},
		ListenHost: host, GatewayName: fmt.Sprintf("gw-%d", i+1),
	}
}

// startGateway starts gateway i and adds it to the fleet.
func (f *fleet) startGateway(t testing.TB, i int, endpoints []string) *Server {
	t.Helper()
	s := start(t, f.options(t, i, endpoints))
	t.Cleanup(func() { s.Close() })
	if i == 0 {
		b, err := os.ReadFile(s.AdminKeyPath())
		var p Profile
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err != nil {
			t.Fatalf("the first gateway's administrator key: %v", err)
		}
		f.admin = &cli.Client{KeyID: p.AccessKeyId, Secret: p.AccessKeySecret}
	}
	return s
}

// client returns the administrator's API client pointed at gateway i.
func (f *fleet) client(i int) *cli.Client {
	c := *f.admin
	c.Endpoint = "http://" + f.gws[i].APIAddr().String()
	return &c
}

// addr is the default instance's address on gateway i.
func (f *fleet) addr(i int) string { return net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i+2), f.port) }

// instance is the default instance's ID.
func (f *fleet) instance(t testing.TB) string {
	t.Helper()
	all, err := f.gws[0].Plane().Instances()
	if err != nil || len(all) != 1 {
		t.Fatalf("instances: %v, %v", all, err)
	}
	return all[0].ID
}

// whitelist sets group's entries through gateway i's API.
func (f *fleet) whitelist(t testing.TB, i int, id, group, ips, mode string) error {
	t.Helper()
	return f.client(i).Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": group,
		"SecurityIps": ips, "ModifyMode": mode}, nil)
}

// eventually polls cond every 5 ms for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two gateways append to the same whitelist group at the same moment, many times each: every entry is
// there at the end, on both (no lost update: etcd's Update is serializable).
func TestFleetConcurrentAppend(t *testing.T) {
	f := startFleet(t, 2, []string{etcdtest.Embedded(t)})
	id := f.instance(t)
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				errs <- f.whitelist(t, g, id, "shared", fmt.Sprintf("10.%d.%d.1", g, k), "Append")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for g := range 2 {
		in, err := f.gws[g].Plane().Instance(id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, grp := range in.Groups {
			if grp.Name == "shared" {
				for _, e := range grp.Entries {
					got = append(got, e.String())
				}
			}
		}
		if len(got) != 2*each {
			t.Fatalf("gateway %d: group shared holds %d entries, want %d: %v", g, len(got), 2*each, got)
		}
	}
}

// A change through any gateway is enforced by every gateway; an instance created through one is served
// by all, and stops everywhere when deleted through another; a key created on one signs calls to all;
// the audit log, read on any gateway, names the gateway that took each change.
func TestFleetChangeEnforcedEverywhere(t *testing.T) {
	f := startFleet(t, 3, []string{etcdtest.Embedded(t)})
	id := f.instance(t)
	for i := range 3 {
		if got := ping(t, f.addr(i), "127.0.0.9"); got != "-ERR illegal address" {
			t.Fatalf("gateway %d before the change: %q", i, got)
		}
	}
	if err := f.whitelist(t, 0, id, "app", "127.0.0.9", "Cover"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d admits 127.0.0.9", i), func() bool { return ping(t, f.addr(i), "127.0.0.9") == "PONG" })
	}
	// A user made by ACL SETUSER through gateway 1's data plane logs in on gateway 3.
	if got := do(t, f.addr(0), "127.0.0.9", "ACL SETUSER fleetuser on >Fleet-pw1 ~* +@all"); got != "+OK" {
		t.Fatalf("ACL SETUSER on gateway 1: %q", got)
	}
	eventually(t, "gateway 3 knows fleetuser", func() bool { return do(t, f.addr(2), "127.0.0.9", "AUTH fleetuser Fleet-pw1") == "+OK" })

	if err := f.whitelist(t, 2, id, "app", "127.0.0.9", "Delete"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d refuses 127.0.0.9 again", i), func() bool { return ping(t, f.addr(i), "127.0.0.9") == "-ERR illegal address" })
	}

	// An instance created through gateway 2 is served by all three; deleted through gateway 3, by none.
	port, _ := redistest.FreePort()
	var created struct{ InstanceId string }
	if err := f.client(1).Call("CreateInstance", map[string]string{"InstanceId": "r-fleet2", "Listen": "127.0.0.1:" + strconv.Itoa(port),
		"Backend": "redis://" + f.backend}, &created); err != nil {
		t.Fatal(err)
	}
	if err := f.whitelist(t, 2, "r-fleet2", "app", "127.0.0.9", "Cover"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d serves r-fleet2", i), func() bool { return f.gws[i].Gateway("r-fleet2") != nil })
		addr := net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i+2), strconv.Itoa(port))
		eventually(t, fmt.Sprintf("gateway %d admits 127.0.0.9 to r-fleet2", i), func() bool { return ping(t, addr, "127.0.0.9") == "PONG" })
	}
	if err := f.client(2).Call("DeleteInstance", map[string]string{"InstanceId": "r-fleet2"}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d stops r-fleet2", i), func() bool { return f.gws[i].Gateway("r-fleet2") == nil })
	}

	// A key created through gateway 1 signs calls to gateway 3; deleted through gateway 2, it signs none.
	var key struct{ AccessKeyId, AccessKeySecret string }
	if err := f.client(0).Call("CreateAccessKey", map[string]string{"Actions": "Describe*", "Instances": "*"}, &key); err != nil {
		t.Fatal(err)
	}
	reader := &cli.Client{Endpoint: f.client(2).Endpoint, KeyID: key.AccessKeyId, Secret: key.AccessKeySecret}
	if err := reader.Call("DescribeInstances", nil, nil); err != nil {
		t.Fatalf("a key created on gateway 1, used on gateway 3: %v", err)
	}
	if err := f.client(1).Call("DeleteAccessKey", map[string]string{"UserAccessKeyId": key.AccessKeyId}, nil); err != nil {
		t.Fatal(err)
	}
	var ae *cli.APIError
	if err := reader.Call("DescribeInstances", nil, nil); !errors.As(err, &ae) || ae.Code != "InvalidAccessKeyId.NotFound" {
		t.Fatalf("a key deleted on gateway 2, used on gateway 3: %v", err)
	}

	// A signed call accepted by gateway 1 and replayed to gateway 2 is refused: the nonce is in etcd.
	form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2015-01-01"}}
	sign.SignV1("POST", form, f.admin.KeyID, f.admin.Secret, time.Now(), "fleet-replay-nonce")
	for i, want := range []int{200, 400} {
		resp, err := http.Post(f.client(i).Endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 400 && !strings.Contains(string(body), sign.CodeSignatureNonceUsed)) {
			t.Fatalf("the signed call sent to gateway %d: %d %s", i+1, resp.StatusCode, body)
		}
	}

	// The audit log read on gateway 3 names the gateway of each change.
	var audit struct {
		AuditLogs struct {
			AuditLog []struct{ Action, Gateway string }
		}
	}
	if err := f.client(2).Call("DescribeAuditLogs", map[string]string{"ActionName": "ModifySecurityIps", "InstanceId": id}, &audit); err != nil {
		t.Fatal(err)
	}
	var gws []string
	for _, e := range audit.AuditLogs.AuditLog {
		gws = append(gws, e.Gateway)
	}
	if strings.Join(gws, ",") != "gw-3,gw-1" {
		t.Fatalf("ModifySecurityIps records name the gateways %v, want [gw-3 gw-1] (newest first)", gws)
	}
}

// Three gateways on a 3-member etcd: with one member stopped (quorum kept) changes still flow; with two
// stopped (quorum lost) every gateway enforces what it had — no address gains or loses access — while
// API writes are refused with the outage's error, /readyz says degraded and the metric counts; when the
// members return, the fleet takes and enforces changes again without a restart.
func TestFleetSurvivesEtcdFaults(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	f := startFleet(t, 3, c.Endpoints())
	id := f.instance(t)
	if err := f.whitelist(t, 0, id, "app", "127.0.0.9", "Cover"); err != nil {
		t.Fatal(err)
	}
	admitsEverywhere := func(src string) {
		t.Helper()
		for i := range 3 {
			eventually(t, fmt.Sprintf("gateway %d admits %s", i+1, src), func() bool { return ping(t, f.addr(i), src) == "PONG" })
		}
	}
	admitsEverywhere("127.0.0.9")

	c.Stop(0)
	if err := f.whitelist(t, 1, id, "app", "127.0.0.10", "Append"); err != nil {
		t.Fatalf("a change with one etcd member of three stopped: %v", err)
	}
	admitsEverywhere("127.0.0.10")

	c.Stop(1)
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d reports the outage", i+1), func() bool {
			code, body := readyz(t, f.gws[i])
			return code == 200 && strings.Contains(body, "ready, degraded") && strings.Contains(body, "state store unavailable")
		})
	}
	err := f.whitelist(t, 2, id, "app", "127.0.0.11", "Append")
	var ae *cli.APIError
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.HasPrefix(ae.Code, "ServiceUnavailable") ||
		!strings.Contains(ae.Message, "state store is unavailable (last reached ") {
		t.Fatalf("a change without quorum: %v", err)
	}
	if age := stateAge(t, f.client(2).Endpoint); age == "" {
		t.Fatal("an API answer during the outage does not say how old the gateway's state is")
	}
	// Fail static: what was admitted still is, what was not still is not, on every gateway.
	for i := range 3 {
		for src, want := range map[string]string{"127.0.0.9": "PONG", "127.0.0.10": "PONG", "127.0.0.11": "-ERR illegal address"} {
			if got := ping(t, f.addr(i), src); got != want {
				t.Fatalf("gateway %d without quorum, %s: %q, want %q", i+1, src, got, want)
			}
		}
		if n := testutil.ToFloat64(f.gws[i].store.refused); n == 0 {
			t.Fatalf("gateway %d: moat_state_store_unavailable_total is 0 during the outage", i+1)
		}
	}

	c.Start(0)
	c.Start(1)
	eventually(t, "a change is taken again once etcd has its quorum", func() bool {
		return f.whitelist(t, 2, id, "app", "127.0.0.11", "Append") == nil
	})
	admitsEverywhere("127.0.0.11")
	for i := range 3 {
		eventually(t, fmt.Sprintf("gateway %d ready again", i+1), func() bool {
			code, body := readyz(t, f.gws[i])
			return code == 200 && body == "ready\n"
		})
	}
	if age := stateAge(t, f.client(2).Endpoint); age != "" {
		t.Fatalf("an API answer after the outage says the state is %s s old", age)
	}
}

// stateAge returns the StateAgeHeader of an API answer from endpoint (an unsigned call, refused).
func stateAge(t *testing.T, endpoint string) string {
	t.Helper()
	resp, err := http.Post(endpoint+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeInstances"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if age := resp.Header.Get(StateAgeHeader); age != "" && resp.Header.Get("Warning") != `110 - "Response is Stale"` {
		t.Fatalf("%s without the Warning header: %v", StateAgeHeader, resp.Header)
	}
	return resp.Header.Get(StateAgeHeader)
}

// A gateway cut off from etcd (its only endpoint is a stopped member) while the rest of the fleet keeps
// its quorum enforces what it had; when the member returns it catches up from the last revision it saw
// and enforces the changes made meanwhile, without a restart. A gateway started while its etcd is down
// waits, saying so in its log, and serves once etcd is back.
func TestFleetGatewayCatchesUpAndWaits(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	f := startFleet(t, 2, c.Endpoints())
	id := f.instance(t)
	lone := []string{c.Endpoint(2)}
	f.gws = append(f.gws, f.startGateway(t, 2, lone))
	if err := f.whitelist(t, 0, id, "app", "127.0.0.9", "Cover"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gateway 3 admits 127.0.0.9", func() bool { return ping(t, f.addr(2), "127.0.0.9") == "PONG" })

	c.Stop(2)
	if err := f.whitelist(t, 0, id, "app", "127.0.0.10", "Append"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "gateway 2 admits 127.0.0.10", func() bool { return ping(t, f.addr(1), "127.0.0.10") == "PONG" })
	eventually(t, "gateway 3 reports the outage", func() bool {
		_, body := readyz(t, f.gws[2])
		return strings.Contains(body, "ready, degraded")
	})
	if got := ping(t, f.addr(2), "127.0.0.10"); got != "-ERR illegal address" {
		t.Fatalf("gateway 3, cut off, admitted 127.0.0.10 before it could know of it: %q", got)
	}
	if got := ping(t, f.addr(2), "127.0.0.9"); got != "PONG" {
		t.Fatalf("gateway 3, cut off, no longer admits 127.0.0.9: %q", got)
	}
	c.Start(2)
	eventually(t, "gateway 3 catches up and admits 127.0.0.10", func() bool { return ping(t, f.addr(2), "127.0.0.10") == "PONG" })

	c.Stop(2)
	var log redistest.Buffer
	opts := f.options(t, 3, lone)
	opts.Log, opts.Banner = slog.New(slog.NewTextHandler(&log, nil)), io.Discard
	started := make(chan *Server, 1)
	go func() {
		s, err := Start(opts)
		if err != nil {
			t.Error(err)
		}
		started <- s
	}()
	eventually(t, "gateway 4 says it waits", func() bool { return strings.Contains(log.String(), "waiting for etcd") })
	c.Start(2)
	var s *Server
	select {
	case s = <-started:
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway 4 did not start once etcd was back:\n%s", log.String())
	}
	if s == nil {
		t.FailNow()
	}
	defer s.Close()
	f.gws = append(f.gws, s)
	eventually(t, "gateway 4 admits 127.0.0.10", func() bool { return ping(t, f.addr(3), "127.0.0.10") == "PONG" })
}

// Three gateways started at the same moment on an empty prefix: one default instance, one
// administrator key and one console password are created, each written to one gateway's data
// directory only, and every gateway serves the one instance.
func TestFleetStartTogether(t *testing.T) {
	endpoints := []string{etcdtest.Embedded(t)}
	redis := redistest.Start(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{port: strconv.Itoa(port), backend: redis.Addr, prefix: "/moat-together/"}
	servers := make([]*Server, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := f.options(t, i, endpoints)
			opts.Log, opts.Banner = quiet(), io.Discard
			s, err := Start(opts)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { s.Close() })
			servers[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	files := map[string]int{}
	for _, s := range servers {
		for _, name := range []string{AdminKeyFile, "console-password"} {
			if _, err := os.Stat(filepath.Join(s.opts.DataDir, name)); err == nil {
				files[name]++
			}
		}
	}
	keys, err := servers[0].Plane().Keys()
	if err != nil {
		t.Fatal(err)
	}
	insts, err := servers[0].Plane().Instances()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || len(insts) != 1 || files[AdminKeyFile] != 1 || files["console-password"] != 1 {
		t.Fatalf("%d keys, %d instances stored; files written: %v (want one of each)", len(keys), len(insts), files)
	}
	for i, s := range servers {
		if s.Gateway(insts[0].ID) == nil {
			t.Fatalf("gateway %d does not serve %s", i+1, insts[0].ID)
		}
	}
}
