package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/redistest"
)

// buildMoat compiles the binary once per test run.
func buildMoat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "moat")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string { return redistest.FreeAddr(t) }

type proc struct {
	cmd    *exec.Cmd
	stderr redistest.Buffer
}

// serve starts `moat serve` and waits until its API answers.
func serve(t *testing.T, bin, dataDir, listen, api string) *proc {
	t.Helper()
	return serveCmd(t, dataDir, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", listen, "--api-listen", api))
}

// serveCmd starts cmd, a `moat serve` using dataDir, and waits until its API answers.
func serveCmd(t *testing.T, dataDir string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		// "moat started" is logged once every instance serves, after the API answers and the banner.
		if strings.Contains(p.stderr.String(), `msg="moat started"`) {
			if _, err := os.Stat(filepath.Join(dataDir, "admin-key.json")); err == nil {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("moat did not start:\n%s", p.stderr.String())
	return nil
}

func client(t *testing.T, dataDir string) *cli.Client {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "admin-key.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ AccessKeyId, AccessKeySecret, Endpoint string }
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &cli.Client{Endpoint: p.Endpoint, KeyID: p.AccessKeyId, Secret: p.AccessKeySecret}
}

func instanceID(t *testing.T, c *cli.Client) string {
	t.Helper()
	var out struct {
		Instances struct{ KVStoreInstance []struct{ InstanceId string } }
	}
	if err := c.Call("DescribeInstances", nil, &out); err != nil || len(out.Instances.KVStoreInstance) != 1 {
		t.Fatalf("DescribeInstances: %v %+v", err, out)
	}
	return out.Instances.KVStoreInstance[0].InstanceId
}

// The first run teaches (banner), and kill -9 during a stream of whitelist changes loses no
// acknowledged change (W10): the whole binary, its API and its store. The acknowledgements are the
// API's replies; the kill is storetest's crash-test harness's.
func TestKillDuringWhitelistChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	dir := t.TempDir()
	listen, api := freePort(t), freePort(t)
	p := serve(t, bin, dir, listen, api)
	for _, want := range []string{"refuses every address until it is whitelisted", "moat whitelist modify --profile " + filepath.Join(dir, "admin-key.json"), listen} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("start-up output lacks %q:\n%s", want, p.stderr.String())
		}
	}
	c := client(t, dir)
	id := instanceID(t, c)

	// Killed mid-call, most likely: after 1.5 s and at least 10 acknowledged changes (a loaded machine
	// acknowledges fewer in 1.5 s).
	var ackedN atomic.Int64
	stop := time.After(1500 * time.Millisecond)
	killed := make(chan error, 1)
	go func() {
		<-stop
		for ackedN.Load() < 10 {
			time.Sleep(10 * time.Millisecond)
		}
		killed <- storetest.Kill(p.cmd)
	}()
	acked := 0
	for i := 0; ; i++ {
		err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": fmt.Sprintf("g%d", i%20),
			"ModifyMode": "Append", "SecurityIps": fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256)}, nil)
		if err != nil {
			break // killed
		}
		acked = i + 1
		ackedN.Store(int64(acked))
	}
	if acked < 10 {
		t.Fatalf("a call failed after only %d changes, before the kill", acked)
	}
	if err := <-killed; err != nil {
		t.Fatal(err)
	}

	serve(t, bin, dir, listen, api)
	have := whitelisted(t, c, id, "")
	for i := 0; i < acked; i++ {
		if e := fmt.Sprintf("10.%d.%d.%d", i/65536, i/256%256, i%256); !have[e] {
			t.Fatalf("acknowledged change %d (%s) lost after kill -9 (%d acknowledged)", i, e, acked)
		}
	}
	t.Logf("%d acknowledged changes, all present after kill -9 and restart", acked)

	// And the data plane follows: 127.0.0.0/8 is not listed, so a local client is refused...
	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if line != "-ERR illegal address\r\n" {
		t.Fatalf("local client got %q", line)
	}
	// ...until it is whitelisted through the API.
	if err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}
	conn, err = net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("SET k v\r\n"))
	line, _ = bufio.NewReader(conn).ReadString('\n')
	if line != "+OK\r\n" {
		t.Fatalf("whitelisted client got %q", line)
	}
}

// whitelisted returns the entries of instance id's whitelist groups whose names start with prefix.
func whitelisted(t *testing.T, c *cli.Client, id, prefix string) map[string]bool {
	t.Helper()
	var out struct {
		SecurityIpGroups struct {
			SecurityIpGroup []struct{ SecurityIpGroupName, SecurityIpList string }
		}
	}
	if err := c.Call("DescribeSecurityIps", map[string]string{"InstanceId": id}, &out); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, g := range out.SecurityIpGroups.SecurityIpGroup {
		if strings.HasPrefix(g.SecurityIpGroupName, prefix) {
			for _, e := range strings.Split(g.SecurityIpList, ",") {
				have[e] = true
			}
		}
	}
	return have
}

func TestVersionAndHelp(t *testing.T) {
	root := newRoot()
	var out strings.Builder
	root.SetOut(&out)
	root.SetArgs([]string{"serve", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--data-dir", "--listen", "--api-listen", "--backend", "--config", "illegal address"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	out.Reset()
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil || !strings.HasPrefix(out.String(), "moat ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
}
