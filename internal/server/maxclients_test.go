package server

import (
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/redistest"
)

// CONFIG SET maxclients from a client goes the way ModifyInstanceConfig goes: stored, audited as the
// client's user, published, and then enforced by moat on accept with Redis's reply; the backend's own
// maxclients never changes.
func TestConfigSetMaxClientsThroughMoatIsTheInstanceParameter(t *testing.T) {
	dir := t.TempDir()
	redis := redistest.Start(t)
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfgPath, "instances:\n  - id: r-max\n    listen: ["+listen+"]\n    backend: redis://"+redis.Addr+
		"\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	defer s.Close()

	admin := dialRaw(t, listen)
	for _, step := range [][2]string{
		{"maxclients 0", "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive\r\n"},
		{"maxclients 2", "+OK\r\n"},
	} {
		if got := admin.do("CONFIG", "SET", step[0][:10], step[0][11:]); got != step[1] {
			t.Fatalf("CONFIG SET %s: %q, want %q", step[0], got, step[1])
		}
	}
	const two, ten4 = "*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n", "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
	if got := admin.do("CONFIG", "GET", "maxclients"); got != two {
		t.Errorf("CONFIG GET maxclients: %q", got)
	}
	in, err := s.Plane().Instance("r-max")
	if err != nil || in.Params["maxclients"] != "2" {
		t.Fatalf("stored parameters: %v %v", in.Params, err)
	}
	entries, err := s.Plane().AuditLog(controlplane.AuditFilter{Action: "ModifyInstanceConfig"})
	if err != nil || len(entries) != 1 || entries[0].KeyID != "redis:default" || entries[0].Result != controlplane.ResultOK {
		t.Fatalf("audit of CONFIG SET: %+v %v", entries, err)
	}
	if got := redistest.DialFrom(t, listen, "127.0.0.3").Do("PING"); got != "+PONG" {
		t.Errorf("the second client: %q", got)
	}
	if got := redistest.DialFrom(t, listen, "127.0.0.4").Do("PING"); got != "-ERR max number of clients reached" {
		t.Errorf("the third client: %q", got)
	}
	if got := dialRaw(t, redis.Addr).do("CONFIG", "GET", "maxclients"); got != ten4 {
		t.Errorf("the backend's maxclients: %q", got)
	}
}
