package server

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// --listen-host puts every instance's listeners on this gateway's own address, keeping the ports: the
// default instance's, and an instance created through the API with port 0, whose stored address keeps
// the host asked with the port bound (so every gateway of a fleet binds that port on its own host).
func TestListenHostReplacesTheHost(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	listen := net.JoinHostPort("127.0.0.1", itoa(port))
	s := start(t, Options{DataDir: t.TempDir(), Listen: listen, ListenHost: "127.0.0.5"})
	defer s.Close()
	c := adminClient(t, s)
	allowLocal := func(id string) {
		t.Helper()
		if err := c.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Plane().Instances()
	if err != nil || len(all) != 1 {
		t.Fatalf("instances %v, %v", all, err)
	}
	allowLocal(all[0].ID)
	if got := ping(t, net.JoinHostPort("127.0.0.5", itoa(port)), "127.0.0.1"); got != "PONG" {
		t.Fatalf("default instance on the listen host: %q", got)
	}
	if c, err := net.Dial("tcp", listen); err == nil {
		c.Close()
		t.Fatalf("the default instance still listens on %s", listen)
	}
	var out struct {
		InstanceId      string
		ListenAddresses []string
	}
	if err := c.Call("CreateInstance", map[string]string{"InstanceId": "r-lh", "Listen": "127.0.0.1:0"}, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.ListenAddresses) != 1 {
		t.Fatalf("CreateInstance answered %+v", out)
	}
	host, p, _ := net.SplitHostPort(out.ListenAddresses[0])
	if host != "127.0.0.1" || p == "0" {
		t.Fatalf("stored listen address %q: want the host asked (127.0.0.1) and the port bound", out.ListenAddresses[0])
	}
	allowLocal("r-lh")
	if got := ping(t, net.JoinHostPort("127.0.0.5", p), "127.0.0.1"); got != "PONG" {
		t.Fatalf("API-created instance on the listen host: %q", got)
	}
}

func TestListenHostRefusesANonAddress(t *testing.T) {
	_, err := Start(Options{DataDir: t.TempDir(), Listen: freeAddr(t), APIListen: "127.0.0.1:0", Log: quiet(), ListenHost: "gw1.example"})
	if err == nil || err.Error() != `--listen-host "gw1.example": want an IP address (it replaces the host of every instance's listen addresses)` {
		t.Fatalf("Start: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// ping sends PING from src to addr and returns the reply: "PONG" (a status or bulk reply), or the first
// line of another.
func ping(t *testing.T, addr, src string) string {
	t.Helper()
	return strings.TrimPrefix(do(t, addr, src, "PING"), "+")
}
