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
	eventually(t, "gateway 2 lists r-fl as Creating while gateway 1 starts it", func() bool {
		err := f.client(1).Call("DescribeInstances", map[string]string{"InstanceIds": "r-fl"}, &list)
		v := list.Instances.KVStoreInstance
		return err == nil && len(v) == 1 && v[0].InstanceStatus == "Creating"
	})
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
	if _, err := f.gws[0].Plane().Instance("r-flbusy"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
		t.Errorf("r-flbusy read back through gateway 1: %v, want not found", err)
	}
	// Gateway 2 reads the shared store, which may answer it a moment late.
	eventually(t, "gateway 2 neither stores nor serves r-flbusy", func() bool {
		_, err := f.gws[1].Plane().Instance("r-flbusy")
		return errors.Is(err, controlplane.ErrInstanceNotFound) && f.gws[1].Gateway("r-flbusy") == nil
	})
	var log []controlplane.AuditEntry
	eventually(t, "the shared log, read on gateway 2, has r-flbusy's creation undone", func() bool {
		log, err = f.gws[1].Plane().AuditLog(controlplane.AuditFilter{Instance: "r-flbusy"})
		return err == nil && len(log) == 1
	})
	if e := log[0]; e.Action != "CreateInstance" || e.Result != controlplane.ResultUndone || e.Gateway != "gw-1" ||
		!strings.Contains(e.Error, "address already in use") {
		t.Errorf("the record of r-flbusy, read on gateway 2: %+v; want gateway 1's creation, undone", e)
	}
}
