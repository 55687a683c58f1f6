package api_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/redistest"
)

// CreateInstance stores the instance first and the data plane starts it (issue 17). A start that fails
// leaves nothing stored or served, answers as before, and the audit log says what happened: the
// instance was stored pending and removed again, and why.
func TestFailedStartLeavesNothingStored(t *testing.T) {
	m := startMoat(t)
	node := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	before, err := m.srv.Plane().Instances()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, id string
		params   map[string]string
		code     string
		why      string // in the answer's message and in the audit record's error
	}{
		{"busy listen address", "r-busy", map[string]string{"Listen": m.listen, "Backend": "embedded"}, "InvalidListen.InUse", m.listen},
		{"Redis Cluster node", "r-cluster", map[string]string{"Listen": "127.0.0.1:0", "Backend": "redis://" + node.Addr},
			"InvalidParameter.Backend", "backend is a Redis Cluster node"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.params["InstanceId"] = c.id
			m.wantRefused(t, "CreateInstance", c.params, 400, c.code, c.why)

			if _, err := m.srv.Plane().Instance(c.id); !errors.Is(err, controlplane.ErrInstanceNotFound) {
				t.Errorf("the store read back after the refused creation: %v, want not found", err)
			}
			after, err := m.srv.Plane().Instances()
			if err != nil || jsonString(t, after) != jsonString(t, before) {
				t.Errorf("stored instances changed: %v\nbefore %s\nafter  %s", err, jsonString(t, before), jsonString(t, after))
			}
			if m.srv.Gateway(c.id) != nil {
				t.Error("the refused instance is served")
			}
			status, _ := m.call("DescribeInstanceAttribute", map[string]string{"InstanceId": c.id})
			if status != 404 {
				t.Errorf("DescribeInstanceAttribute after the refused creation: HTTP %d, want 404", status)
			}

			// The log of changes: one record, the creation undone, with the instance as it was stored.
			changes := auditRecords(t, m, c.id, "Changes")
			if len(changes) != 1 {
				t.Fatalf("records of changes to %s: %v, want the one undoing its creation", c.id, changes)
			}
			e := changes[0]
			stored, _ := e["before"].(map[string]any)
			if e["action"] != "CreateInstance" || e["result"] != controlplane.ResultUndone || e["key_id"] != m.keyID ||
				!strings.Contains(e["error"].(string), c.why) || stored["id"] != c.id || stored["pending"] != true || e["after"] != nil {
				t.Errorf("the record of the undone creation: %v", e)
			}
			// The log of failed calls: the call, as for any refused call.
			failed := auditRecords(t, m, c.id, "FailedCalls")
			if len(failed) != 1 || failed[0]["result"] != "error" || !strings.Contains(failed[0]["error"].(string), c.why) {
				t.Errorf("failed calls on %s: %v", c.id, failed)
			}
		})
	}
}

// While the data plane starts a new instance it is stored pending: listed as Creating, with the port
// asked (0), and not served, while other changes go on; once the call returns it is stored with the
// port bound and served as stored then, and the log of changes holds one record of its creation, as
// when creating and starting were one step.
func TestCreatingInstanceIsPendingUntilStarted(t *testing.T) {
	m := startMoat(t)
	// A backend that accepts and says nothing holds the start at its first dial to the backend, after
	// the instance was stored.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	type answer struct {
		status int
		out    map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		status, out := m.call("CreateInstance", map[string]string{"InstanceId": "r-slow", "Listen": "127.0.0.1:0", "Backend": "redis://" + silent.Addr().String()})
		done <- answer{status, out}
	}()
	conn, err := silent.Accept()
	if err != nil {
		t.Fatal(err)
	}
	list := m.mustCall("DescribeInstances", map[string]string{"InstanceIds": "r-slow"})
	views := list["Instances"].(map[string]any)["KVStoreInstance"].([]any)
	if len(views) != 1 {
		t.Fatalf("DescribeInstances while r-slow starts: %v", list)
	}
	if v := views[0].(map[string]any); v["InstanceStatus"] != "Creating" || v["Port"] != 0.0 {
		t.Errorf("r-slow while it starts: %v, want InstanceStatus Creating and Port 0", v)
	}
	if m.srv.Gateway("r-slow") != nil {
		t.Error("r-slow is served before its start ended")
	}
	// Other changes go on meanwhile, the pending instance's own too: stored, and served once it starts.
	m.modify(m.inst, "app", "Cover", "127.0.0.3")
	m.modify("r-slow", "app", "Cover", "127.0.0.2")
	if in, err := m.srv.Plane().Instance("r-slow"); err != nil || !in.Pending {
		t.Fatalf("r-slow after the changes made while it starts: %+v, %v; want it still pending", in, err)
	}
	conn.Close() // the backend hangs up; the start goes on (an unreachable backend does not refuse it)
	silent.Close()

	a := <-done
	addrs, _ := a.out["ListenAddresses"].([]any)
	if a.status != 200 || len(addrs) != 1 || strings.HasSuffix(addrs[0].(string), ":0") {
		t.Fatalf("CreateInstance r-slow: HTTP %d %v", a.status, a.out)
	}
	in, err := m.srv.Plane().Instance("r-slow")
	if err != nil || in.Pending || len(in.Listen) != 1 || in.Listen[0] != addrs[0] {
		t.Fatalf("r-slow as stored: %+v, %v; want started, on %s", in, err, addrs[0])
	}
	if gw := m.srv.Gateway("r-slow"); gw == nil || gw.Addrs()[0].String() != addrs[0] {
		t.Fatalf("r-slow served on %v, want %s", gw, addrs[0])
	}
	if got := redis(t, addrs[0].(string), "127.0.0.2", "PING"); got == illegal {
		t.Errorf("r-slow refuses 127.0.0.2, whitelisted while it started")
	}
	attr := m.mustCall("DescribeInstanceAttribute", map[string]string{"InstanceId": "r-slow"})
	if b, _ := json.Marshal(attr); !strings.Contains(string(b), `"InstanceStatus":"Normal"`) {
		t.Errorf("r-slow once started: %s", b)
	}
	changes := auditRecords(t, m, "r-slow", "Changes")
	if len(changes) != 1 {
		t.Fatalf("records of changes to r-slow: %v, want the one of its creation", changes)
	}
	created, _ := changes[0]["after"].(map[string]any)
	if changes[0]["action"] != "CreateInstance" || changes[0]["result"] != "ok" || changes[0]["before"] != nil ||
		jsonString(t, created["listen"]) != jsonString(t, []string{addrs[0].(string)}) || created["pending"] != nil {
		t.Errorf("the record of r-slow's creation: %v", changes[0])
	}
}

// auditRecords returns the records of CreateInstance in the log kind ("Changes" or "FailedCalls") that
// name instance id.
func auditRecords(t *testing.T, m *moat, id, kind string) []map[string]any {
	t.Helper()
	out := m.mustCall("DescribeAuditLogs", map[string]string{"InstanceId": id, "LogType": kind, "ActionName": "CreateInstance"})
	var records []map[string]any
	for _, r := range out["AuditLogs"].(map[string]any)["AuditLog"].([]any) {
		records = append(records, r.(map[string]any))
	}
	return records
}
