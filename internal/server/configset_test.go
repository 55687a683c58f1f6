package server

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/redistest"
)

// CONFIG SET requirepass and acllog-max-len from a client go the way ModifyInstanceConfig goes: stored,
// audited as the client's user, published; requirepass edits moat's default user and never the
// backend's password. As in Redis without CONFIG REWRITE, a restart applies the config file's
// declared parameters again; unlike Redis, one the file does not declare keeps the value last set.
func TestConfigSetThroughMoatIsTheInstanceParameter(t *testing.T) {
	dir := t.TempDir()
	redis := redistest.Start(t, "--requirepass", "backendpw")
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "moat.yaml")
	cfg := "instances:\n  - id: r-cfg\n    listen: [" + listen + "]\n    backend: redis://:backendpw@" + redis.Addr +
		"\n    params:\n      requirepass: s3cret\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n"
	writeConfig(t, cfgPath, cfg)
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir})

	admin := redistest.DialFrom(t, listen, "127.0.0.2")
	for _, step := range [][2]string{
		{"AUTH s3cret", "+OK"},
		{"CONFIG SET requirepass n3w", "+OK"},
		{"CONFIG SET acllog-max-len 3", "+OK"},
		{"AUTH s3cret", "-WRONGPASS invalid username-password pair or user is disabled."},
		{"AUTH n3w", "+OK"},
		{"SET k v", "+OK"},
	} {
		if got := admin.Do(step[0]); got != step[1] {
			t.Fatalf("%s: %q, want %q", step[0], got, step[1])
		}
	}
	in, err := s.Plane().Instance("r-cfg")
	if err != nil || in.Params["acllog-max-len"] != "3" || in.Params["requirepass"] != "" {
		t.Fatalf("stored parameters: %v %v", in.Params, err)
	}
	entries, err := s.Plane().AuditLog(controlplane.AuditFilter{Action: "ModifyInstanceConfig"})
	if err != nil || len(entries) != 2 || entries[0].KeyID != "redis:default" || entries[0].Result != controlplane.ResultOK {
		t.Fatalf("audit of CONFIG SET: %+v %v", entries, err)
	}
	if b, _ := json.Marshal(entries); bytes.Contains(b, []byte("n3w")) {
		t.Errorf("the audit of CONFIG SET requirepass holds the password: %s", b)
	}
	backend := redistest.DialFrom(t, redis.Addr, "127.0.0.1")
	if got := backend.Do("AUTH backendpw"); got != "+OK" {
		t.Fatalf("the backend's own password: %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	defer s.Close()
	c := redistest.DialFrom(t, listen, "127.0.0.3")
	if got := c.Do("AUTH s3cret"); got != "+OK" {
		t.Errorf("after a restart, AUTH with the declared requirepass: %q", got)
	}
	if in, err := s.Plane().Instance("r-cfg"); err != nil || in.Params["acllog-max-len"] != "3" {
		t.Errorf("after a restart, acllog-max-len (not declared): %v %v, want 3 kept", in.Params, err)
	}
}
