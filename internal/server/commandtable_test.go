package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// The snapshot the control plane publishes is the one the gateway serves: the instance's users are
// compiled against the backend's command table (its COMMAND reply) when they are compiled, at start and
// on every change, not rebound by the data plane after publishing.
func TestPublishedSnapshotIsServed(t *testing.T) {
	dir := t.TempDir()
	redis := redistest.Start(t)
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfgPath, "instances:\n  - id: r-tbl\n    listen: ["+listen+"]\n    backend: redis://"+redis.Addr+
		"\n    params:\n      requirepass: s3cret\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	defer s.Close()

	check := func(when string) {
		t.Helper()
		served := s.Gateway("r-tbl").Snapshot()
		in, err := s.Plane().Instance("r-tbl")
		if err != nil {
			t.Fatal(err)
		}
		compiled, err := s.Plane().CompileInstance(in)
		if err != nil {
			t.Fatal(err)
		}
		if served.Users.Table() != compiled.Users.Table() {
			t.Errorf("%s: the gateway judges with %q, the control plane compiles with %q", when,
				served.Users.Table().Source, compiled.Users.Table().Source)
		}
		if src := served.Users.Table().Source; !strings.Contains(src, redis.Addr) {
			t.Errorf("%s: users judged with the table of %q, want the backend's COMMAND reply", when, src)
		}
	}
	check("at start")
	c := redistest.DialFrom(t, listen, "127.0.0.2")
	for _, cmd := range []string{"AUTH s3cret", "ACL SETUSER alice on >apw ~app:* +@all"} {
		if got := c.Do(cmd); got != "+OK" {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	check("after ACL SETUSER")
}
