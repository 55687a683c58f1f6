package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/redistest"
)

// A1–A3 end to end: requirepass from the config file, users made with ACL SETUSER through moat are
// stored, audited and kept across a config reload and a restart; ACL DELUSER closes that user's other
// connections at once; the backend only ever sees moat's own login (its requirepass).
func TestACLUsersThroughMoat(t *testing.T) {
	dir := t.TempDir()
	redis := redistest.Start(t, "--requirepass", "backendpw")
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "moat.yaml")
	cfg := "instances:\n  - id: r-acl\n    listen: [" + listen + "]\n    backend: redis://:backendpw@" + redis.Addr +
		"\n    params:\n      requirepass: s3cret\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n"
	writeConfig(t, cfgPath, cfg)
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir})

	if got := do(t, listen, "127.0.0.2", "GET k"); got != "-NOAUTH Authentication required." {
		t.Fatalf("before AUTH: %q", got)
	}
	admin := redistest.DialFrom(t, listen, "127.0.0.2")
	if got := admin.Do("AUTH backendpw"); got != "-WRONGPASS invalid username-password pair or user is disabled." {
		t.Fatalf("the backend's password opened moat: %q", got)
	}
	for _, step := range [][2]string{
		{"AUTH s3cret", "+OK"},
		{"ACL SETUSER alice on >apw ~app:* +@all -@dangerous", "+OK"},
		{"ACL SETUSER bob on >bpw ~* +get", "+OK"},
		{"ACL SETUSER bad +nosuchcommand", "-ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or category name in ACL"},
	} {
		if got := admin.Do(step[0]); got != step[1] {
			t.Fatalf("%s: %q, want %q", step[0], got, step[1])
		}
	}
	alice := redistest.DialFrom(t, listen, "127.0.0.3")
	if got := alice.Do("AUTH alice apw"); got != "+OK" {
		t.Fatalf("AUTH alice: %q", got)
	}
	if got := alice.Do("SET app:1 v"); got != "+OK" {
		t.Fatalf("SET as alice: %q", got)
	}
	if got := alice.Do("SET other v"); !strings.HasPrefix(got, "-NOPERM") {
		t.Fatalf("SET other as alice: %q", got)
	}
	entries, err := s.Plane().AuditLog(controlplane.AuditFilter{Action: "ACL SETUSER"})
	if err != nil || len(entries) != 2 || entries[0].KeyID != "redis:default" || entries[0].Result != controlplane.ResultOK ||
		!strings.Contains(string(entries[0].After), "user bob on #") {
		t.Fatalf("audit of ACL SETUSER (the two that changed something, newest first): %+v %v", entries, err)
	}

	// A reload of the config file keeps the users made through moat.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := redistest.DialFrom(t, listen, "127.0.0.4").Do("AUTH bob bpw"); got != "+OK" {
		t.Fatalf("AUTH bob after a reload: %q", got)
	}

	// DELUSER closes alice's connection; a restart keeps the change.
	if got := admin.Do("ACL DELUSER alice nobody"); got != ":1" {
		t.Fatalf("ACL DELUSER: %q", got)
	}
	if got := alice.Do("GET app:1"); !strings.HasPrefix(got, "read error") {
		t.Fatalf("alice's connection after DELUSER: %q, want it closed", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	defer s.Close()
	c := redistest.DialFrom(t, listen, "127.0.0.5")
	for _, step := range [][2]string{
		{"AUTH alice apw", "-WRONGPASS invalid username-password pair or user is disabled."},
		{"AUTH bob bpw", "+OK"},
		{"GET app:1", "v"},
		{"SET app:2 v", "-NOPERM this user has no permissions to run the 'set' command"},
	} {
		if got := c.Do(step[0]); got != step[1] {
			t.Errorf("after restart, %s: %q, want %q", step[0], got, step[1])
		}
	}
}
