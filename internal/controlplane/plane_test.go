package controlplane

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

func openPlane(t *testing.T, path string) (*Plane, *store.Bolt) {
	t.Helper()
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, slog.New(slog.NewTextHandler(io.Discard, nil))), st
}

var admin = Actor{KeyID: "test"}

func testInstance() model.Instance {
	return model.Instance{ID: "r-test", Name: "t", Listen: []string{"127.0.0.1:0"}, Backend: "embedded",
		EngineVersion: "7.0", Groups: allowlist.Initial(), Origin: model.OriginAPI}
}

func TestModifySecurityIpsIsDurableAndPublished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	var seen []model.Instance
	p.Watch(func(in model.Instance, deleted bool) { seen = append(seen, in) })
	w, err := p.ModifySecurityIps(admin, "r-test", allowlist.Change{Group: "dev", Mode: allowlist.Append, Entries: "10.0.1.0/24,10.0.2.5"})
	if err != nil || len(w) != 0 {
		t.Fatalf("modify: %v %v", w, err)
	}
	if len(seen) != 1 || len(seen[0].Groups) != 2 {
		t.Fatalf("watcher saw %+v", seen)
	}
	snap := Compile(seen[0], nil, nil)
	if !snap.Allow.Allows(netip.MustParseAddr("10.0.1.7")) || snap.Allow.Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Fatal("compiled snapshot does not follow the groups")
	}
	st.Close()
	p2, _ := openPlane(t, path)
	in, err := p2.Instance("r-test")
	if err != nil {
		t.Fatal(err)
	}
	if got := allowlist.FormatList(in.Groups[1].Entries); in.Groups[1].Name != "dev" || got != "10.0.1.0/24,10.0.2.5" {
		t.Fatalf("after reopen: group %q entries %q", in.Groups[1].Name, got)
	}
}

func TestBadChangesChangeNothing(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ModifySecurityIps(admin, "r-test", allowlist.Change{Group: "dev", Entries: "10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	before, _ := p.Instance("r-test")
	calls := 0
	p.Watch(func(model.Instance, bool) { calls++ })
	bad := []allowlist.Change{
		{Group: "dev", Entries: "10.0.0.5/24"},
		{Group: "Dev", Entries: "10.0.0.1"},
		{Group: "dev", Entries: "10.0.0.1, 10.0.0.2"},
		{Group: "dev", Mode: allowlist.Delete, Entries: "192.168.0.1"},
		{Group: "hdm_security_ips", Entries: "10.0.0.1"},
	}
	for _, c := range bad {
		if _, err := p.ModifySecurityIps(admin, "r-test", c); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
	if err := p.DeleteGroup(admin, "r-test", "default", false); !errors.Is(err, allowlist.ErrDeleteDefault) {
		t.Errorf("delete default: %v", err)
	}
	if _, err := p.ModifySecurityIps(admin, "r-nope", allowlist.Change{Entries: "10.0.0.1"}); !errors.Is(err, ErrInstanceNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
	if err := p.SetParam(admin, "r-test", "drop-on-revoke", "maybe"); !errors.Is(err, model.ErrParam) {
		t.Errorf("bad param: %v", err)
	}
	after, _ := p.Instance("r-test")
	if allowlist.FormatList(after.Groups[1].Entries) != allowlist.FormatList(before.Groups[1].Entries) || len(after.Groups) != len(before.Groups) || len(after.Params) != 0 {
		t.Fatalf("state changed: %+v -> %+v", before, after)
	}
	if calls != 0 {
		t.Fatalf("watchers called %d times for refused changes", calls)
	}
}

func TestSetParamCompiles(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	if err := p.SetParam(admin, "r-test", "drop-on-revoke", "yes"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetParam(admin, "r-test", "timeout", "30"); err != nil {
		t.Fatal(err)
	}
	in, _ := p.Instance("r-test")
	s := Compile(in, nil, nil)
	if !s.DropOnRevoke || s.IdleTimeout.Seconds() != 30 {
		t.Fatalf("snapshot %+v", s)
	}
	if err := p.SetParam(admin, "r-test", "drop-on-revoke", "no"); err != nil {
		t.Fatal(err)
	}
	in, _ = p.Instance("r-test")
	if _, set := in.Params["drop-on-revoke"]; set {
		t.Fatal("setting the default value should remove the override")
	}
}
