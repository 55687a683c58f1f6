package server

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/etcdtest"
	"github.com/moat-dev/moat/internal/redistest"
)

// An instance created through one gateway of a fleet is stored before that gateway starts it (issue
// 17). Meanwhile the other gateways list it as Creating and do not start it — with port 0 asked, one
// that did would bind a port of its own; once it is started, they serve it on the port its creator
// bound. A creation whose start fails is removed: no gateway keeps it, and the shared log says why.
func TestFleetCreateStoredThenStarted(t *testing.T) {
	f := startFleet(t, 2, []string{etcdtest.Embedded(t)})
	silent, err := net.Listen("tcp", "127.0.0.1:0") // holds gateway 1's start at its first dial to the backend
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var created struct{ ListenAddresses []string }
	done := make(chan error, 1)
	go func() {
		done <- f.client(0).Call("CreateInstance", map[string]string{"InstanceId": "r-fl", "Listen": "127.0.0.1:0",
			"Backend": "redis://" + silent.Addr().String()}, &created)
	}()
	conn, err := silent.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var list struct {
		Instances struct {
			KVStoreInstance []struct{ InstanceStatus string }
		}
	}
	if err := f.client(1).Call("DescribeInstances", map[string]string{"InstanceIds": "r-fl"}, &list); err != nil {
		t.Fatal(err)
	}
	if v := list.Instances.KVStoreInstance; len(v) != 1 || v[0].InstanceStatus != "Creating" {
		t.Fatalf("r-fl on gateway 2 while gateway 1 starts it: %+v, want it Creating", v)
	}
	if f.gws[1].Gateway("r-fl") != nil {
		t.Fatal("gateway 2 serves r-fl before gateway 1 started it")
	}
	silent.Close() // the start goes on once the held dial times out (an unreachable backend does not refuse it)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(created.ListenAddresses[0])
	if port == "0" {
		t.Fatalf("CreateInstance answered %+v", created)
	}
	want := net.JoinHostPort("127.0.0.3", port)
	eventually(t, "gateway 2 serves r-fl on the port gateway 1 bound", func() bool {
		gw := f.gws[1].Gateway("r-fl")
		return gw != nil && gw.Addrs()[0].String() == want
	})
	if got := ping(t, want, "127.0.0.9"); got != "-ERR illegal address" {
		t.Errorf("r-fl on gateway 2, PING from 127.0.0.9: %q", got)
	}

	// A start that fails on gateway 1 (its address taken there; free on gateway 2).
	p, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(p)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = f.client(0).Call("CreateInstance", map[string]string{"InstanceId": "r-flbusy", "Listen": "127.0.0.1:" + strconv.Itoa(p),
		"Backend": "redis://" + f.backend}, nil)
	var ae *cli.APIError
	if !errors.As(err, &ae) || ae.Code != "InvalidListen.InUse" {
		t.Fatalf("CreateInstance on an address taken on gateway 1: %v, want InvalidListen.InUse", err)
	}
	for i := range 2 {
		if _, err := f.gws[i].Plane().Instance("r-flbusy"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
			t.Errorf("r-flbusy read back through gateway %d: %v, want not found", i+1, err)
		}
	}
	eventually(t, "gateway 2 does not serve r-flbusy", func() bool { return f.gws[1].Gateway("r-flbusy") == nil })
	log, err := f.gws[1].Plane().AuditLog(controlplane.AuditFilter{Instance: "r-flbusy"})
	if err != nil || len(log) != 1 || log[0].Result != controlplane.ResultUndone || log[0].Gateway != "gw-1" ||
		!strings.Contains(log[0].Error, "address already in use") {
		t.Errorf("the shared log of r-flbusy, read on gateway 2: %+v, %v; want gateway 1's creation, undone", log, err)
	}
}
