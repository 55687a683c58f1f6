package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/storetest"
)

// A crash between storing an instance created through the API and starting it (issue 17), on
// storetest's crash-test harness: the child moat is killed while the data plane starts the instance,
// which is stored pending. At the next start moat settles it: it starts it and stores the addresses
// bound, or, when it cannot start it, removes it and goes on serving the others — the caller never
// had an answer, and a stored instance that nothing serves must not keep moat from starting.

const (
	createCrashEnv       = "MOAT_CREATE_CRASH_CHILD"  // the child's data directory
	createCrashListenEnv = "MOAT_CREATE_CRASH_LISTEN" // the Listen of the instance it creates
)

// TestCreateCrashChild runs moat, creates r-crash through its API with a backend that accepts and says
// nothing (the start waits there, the instance stored), acknowledges once the backend was dialled and
// waits to be killed.
func TestCreateCrashChild(t *testing.T) {
	dir := storetest.CrashChildPath(t, createCrashEnv)
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		storetest.ChildFail(err)
	}
	s, err := Start(Options{DataDir: dir, Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0", Backend: "embedded", Log: quiet(), Banner: io.Discard})
	if err != nil {
		storetest.ChildFail(err)
	}
	c := adminClient(t, s)
	go func() {
		err := c.Call("CreateInstance", map[string]string{"InstanceId": "r-crash", "Listen": os.Getenv(createCrashListenEnv),
			"Backend": "redis://" + silent.Addr().String()}, nil)
		storetest.ChildFail(fmt.Errorf("CreateInstance answered before the kill: %v", err))
	}()
	conn, err := silent.Accept()
	if err != nil {
		storetest.ChildFail(err)
	}
	defer conn.Close()
	storetest.Ack(1)
	time.Sleep(time.Minute) // killed long before
	storetest.ChildFail(errors.New("not killed"))
}

func TestCreateInterruptedBetweenStoreAndStart(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	t.Run("started at the next start", func(t *testing.T) {
		dir := crashCreating(t, "127.0.0.1:0")
		s := start(t, Options{DataDir: dir, Listen: "127.0.0.1:0", Backend: "embedded"})
		defer s.Close()
		in, err := s.Plane().Instance("r-crash")
		if err != nil || in.Pending || len(in.Listen) != 1 || strings.HasSuffix(in.Listen[0], ":0") {
			t.Fatalf("r-crash after the restart: %+v, %v; want it stored started, with the port bound", in, err)
		}
		gw := s.Gateway("r-crash")
		if gw == nil || gw.Addrs()[0].String() != in.Listen[0] {
			t.Fatalf("r-crash served on %v, want %s", gw, in.Listen[0])
		}
		// Served as any new instance: only 127.0.0.1 admitted (its backend, the child's, is gone).
		if got := ping(t, in.Listen[0], "127.0.0.2"); got != "-ERR illegal address" {
			t.Errorf("r-crash, PING from 127.0.0.2: %q", got)
		}
		e := oneCreateRecord(t, s, controlplane.ResultOK)
		if !strings.Contains(string(e.After), `"listen":["`+in.Listen[0]+`"]`) || len(e.Before) != 0 {
			t.Errorf("the record of r-crash's creation: before %s, after %s", e.Before, e.After)
		}
	})
	t.Run("removed when it cannot start", func(t *testing.T) {
		listen := freeAddr(t)
		dir := crashCreating(t, listen)
		busy, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		s := start(t, Options{DataDir: dir, Listen: "127.0.0.1:0", Backend: "embedded"})
		defer s.Close()
		if _, err := s.Plane().Instance("r-crash"); !errors.Is(err, controlplane.ErrInstanceNotFound) {
			t.Fatalf("r-crash after a restart with its address taken: %v, want it removed", err)
		}
		if s.Gateway("r-crash") != nil {
			t.Fatal("r-crash is served")
		}
		e := oneCreateRecord(t, s, controlplane.ResultUndone)
		if !strings.Contains(e.Error, listen) || !strings.Contains(string(e.Before), `"pending":true`) {
			t.Errorf("the record of r-crash's removal: error %q, before %s", e.Error, e.Before)
		}
		if all, err := s.Plane().Instances(); err != nil || len(all) != 1 || s.Gateway(all[0].ID) == nil {
			t.Errorf("the default instance is not served: %v, %v", all, err)
		}
	})
}

// crashCreating runs the crash child on a new data directory, creating r-crash on listen, kills it
// while the instance starts, checks that it is stored pending as asked, and returns the directory.
func crashCreating(t *testing.T, listen string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(createCrashListenEnv, listen)
	storetest.CrashChild{Test: "TestCreateCrashChild", Env: createCrashEnv, Path: dir}.RunAndKill(t, 1, 0, nil)
	st, err := store.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := controlplane.New(st, quiet()).Instance("r-crash")
	if err != nil || !in.Pending || len(in.Listen) != 1 || in.Listen[0] != listen || in.Origin != model.OriginAPI {
		t.Fatalf("r-crash as the kill left it: %+v, %v; want it stored pending on %s", in, err, listen)
	}
	return dir
}

// oneCreateRecord returns the one record of r-crash's creation in s's log of changes, which must have
// the result want and name the restart as who made it.
func oneCreateRecord(t *testing.T, s *Server, want string) controlplane.AuditEntry {
	t.Helper()
	log, err := s.Plane().AuditLog(controlplane.AuditFilter{Instance: "r-crash"})
	if err != nil || len(log) != 1 {
		t.Fatalf("records of changes to r-crash: %+v, %v; want one", log, err)
	}
	if e := log[0]; e.Action != "CreateInstance" || e.Result != want || e.KeyID != restartActor.KeyID {
		t.Fatalf("the record of r-crash: %+v; want CreateInstance, %s, by %s", e, want, restartActor.KeyID)
	}
	return log[0]
}
