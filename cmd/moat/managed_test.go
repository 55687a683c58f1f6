package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
	"github.com/moat-dev/moat/internal/redistest"
)

// enginePID asks the API which process serves instance id (BackendEngine), failing unless it is a
// managed redis-server.
func enginePID(t *testing.T, c *cli.Client, id string) int {
	t.Helper()
	var out struct {
		Instances struct {
			DBInstanceAttribute []struct {
				BackendEngine struct {
					Kind, Server string
					PID          int
				}
			}
		}
	}
	if err := c.Call("DescribeInstanceAttribute", map[string]string{"InstanceId": id}, &out); err != nil || len(out.Instances.DBInstanceAttribute) != 1 {
		t.Fatalf("DescribeInstanceAttribute: %v %+v", err, out)
	}
	e := out.Instances.DBInstanceAttribute[0].BackendEngine
	if e.Kind != "managed" || e.Server != "redis-server" || e.PID == 0 {
		t.Fatalf("BackendEngine %+v, want a managed redis-server", e)
	}
	return e.PID
}

func runs(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && len(b) > 0
}

func waitNotRunning(t *testing.T, pid int, what string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); runs(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: the managed server %d still runs 10 s later", what, pid)
		}
	}
}

func send(t *testing.T, addr, cmd string) string {
	t.Helper()
	c := redistest.DialFrom(t, addr, "127.0.0.1")
	defer c.Close()
	return c.Do(cmd)
}

// `moat serve` with redis-server on PATH and no --backend: it says which engine it uses and how to get
// the other, runs a managed redis-server whose log lines reach moat's log with the instance ID, and
// neither kill -9 of moat (the kernel stops the server) nor SIGTERM (moat stops it) leaves the server
// running; the data is there after each restart.
func TestServeRunsManagedServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMoat(t)
	dir := t.TempDir()
	listen, api := freePort(t), freePort(t)
	p := serve(t, bin, dir, listen, api)
	c := client(t, dir)
	id := instanceID(t, c)
	for _, want := range []string{
		"engine: instances without a backend run a managed redis-server each", "--backend embedded",
		`engine="managed redis-server `, "instance=" + id + " server=redis-server pid=",
	} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("start-up output lacks %q:\n%s", want, p.stderr.String())
		}
	}
	pid := enginePID(t, c, id)
	if err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := send(t, listen, "SET k kept"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}

	if err := storetest.Kill(p.cmd); err != nil {
		t.Fatal(err)
	}
	waitNotRunning(t, pid, "after kill -9 of moat")
	p = serve(t, bin, dir, listen, api)
	if got := send(t, listen, "GET k"); got != "kept" {
		t.Fatalf("GET after kill -9 of moat and a restart: %q", got)
	}

	pid = enginePID(t, c, id)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("moat after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	if runs(pid) {
		t.Errorf("the managed server %d runs after moat stopped", pid)
	}
	if !strings.Contains(p.stderr.String(), "managed server stopped") {
		t.Errorf("the stop is not logged:\n%s", p.stderr.String())
	}
}
