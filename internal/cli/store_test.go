package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// storeCmd runs `moat store …` as cmd/moat does and returns its output, error line and exit code.
func storeCmd(args ...string) result {
	root := &cobra.Command{Use: "moat", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.IsUsage(err) })
	root.AddCommand(cli.NewStore())
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(&errb, "moat:", err)
	}
	return result{out.String(), errb.String(), cli.ExitCode(err)}
}

// dump returns every key of s with its value.
func dump(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	if err := s.View(func(tx store.Tx) error {
		kvs, err := tx.List("")
		for _, kv := range kvs {
			m[kv.Key] = string(kv.Value)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func plane(s store.Store) *controlplane.Plane {
	return controlplane.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// copyRecords returns the CopyStore records of s's audit log.
func copyRecords(t *testing.T, s store.Store) []controlplane.AuditEntry {
	t.Helper()
	recs, err := plane(s).AuditLog(controlplane.AuditFilter{Action: "CopyStore"})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// A real moat state moves from a bbolt file into etcd and back: every key arrives unchanged, the target's
// audit log records each copy, a non-empty target is refused unless --force, and a bbolt file held by a
// running moat is refused with the reason.
func TestStoreCopy(t *testing.T) {
	endpoint := etcdtest.Embedded(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "state.db")
	b, err := store.OpenBolt(src)
	if err != nil {
		t.Fatal(err)
	}
	p := plane(b)
	admin := controlplane.Actor{KeyID: "admin"}
	in := model.Instance{ID: "r-test", Name: "t", Listen: []string{"127.0.0.1:0"}, Backend: "embedded",
		EngineVersion: "7.0", Groups: allowlist.Initial(), Origin: model.OriginAPI}
	if err := p.CreateInstance(admin, in); err != nil {
		t.Fatal(err)
	}
	for i := range 150 { // more keys than one etcd transaction takes
		c := allowlist.Change{Group: fmt.Sprintf("g%d", i%5), Mode: allowlist.Append, Entries: fmt.Sprintf("10.0.%d.0/24", i)}
		if _, err := p.ModifySecurityIps(admin, "r-test", c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.CreateKey(admin, "ops", []string{"Describe*"}, []string{"*"}); err != nil {
		t.Fatal(err)
	}
	want := dump(t, b)

	// Locked by a running moat (this process holds it open).
	r := storeCmd("store", "copy", "--from", "bbolt:"+src, "--to", "etcd:"+endpoint)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "another moat process is using "+src) || !strings.Contains(r.stderr, "stop the moat") {
		t.Fatalf("copy from a locked file: exit %d, %q", r.code, r.stderr)
	}
	b.Close()

	r = storeCmd("store", "copy", "--from", "bbolt:"+src, "--to", "etcd:"+endpoint)
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("copied %d keys", len(want))) {
		t.Fatalf("copy to etcd: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	e, err := etcdstore.Open(etcdstore.Options{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := dump(t, e)
	recs := copyRecords(t, e)
	if len(recs) != 1 || recs[0].Resource != "bbolt:"+src || !strings.Contains(string(recs[0].After), `"keys":`+fmt.Sprint(len(want))) {
		t.Fatalf("audit of the copy in etcd: %+v", recs)
	}
	for k, v := range want {
		if k == "auditlog/seq" || k == "auditlog/n" {
			continue // the record of the copy counts in
		}
		if got[k] != v {
			t.Fatalf("etcd %q = %.60q, want %.60q", k, got[k], v)
		}
	}

	// A non-empty target is refused, and replaced with --force.
	r = storeCmd("store", "copy", "--from", "bbolt:"+src, "--to", "etcd:"+endpoint)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("copy into a non-empty etcd: exit %d, %q", r.code, r.stderr)
	}
	if r = storeCmd("store", "copy", "--from", "bbolt:"+src, "--to", "etcd:"+endpoint, "--force"); r.code != 0 {
		t.Fatalf("copy --force: exit %d, %q", r.code, r.stderr)
	}
	if n := len(copyRecords(t, e)); n != 1 {
		t.Fatalf("after --force the target holds %d copy records, want 1 (the source's state plus this copy)", n)
	}

	// And back to a new bbolt file: exactly etcd's state, plus the record of this copy.
	back := filepath.Join(dir, "back", "state.db")
	inEtcd := dump(t, e)
	if r = storeCmd("store", "copy", "--from", "etcd:"+endpoint, "--to", "bbolt:"+back); r.code != 0 {
		t.Fatalf("copy to bbolt: exit %d, %q", r.code, r.stderr)
	}
	nb, err := store.OpenBolt(back)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	gotBack := dump(t, nb)
	recs = copyRecords(t, nb)
	if len(recs) != 2 || !strings.HasPrefix(recs[0].Resource, "etcd:"+endpoint) {
		t.Fatalf("audit of the copies in the bbolt file: %+v", recs)
	}
	for k := range gotBack {
		if strings.HasPrefix(k, "auditlog/") {
			delete(gotBack, k)
			delete(inEtcd, k)
		}
	}
	for k := range inEtcd {
		if strings.HasPrefix(k, "auditlog/") {
			delete(inEtcd, k)
		}
	}
	if !maps.Equal(gotBack, inEtcd) {
		t.Fatalf("bbolt copy differs from etcd: %d keys vs %d", len(gotBack), len(inEtcd))
	}

	// Usage mistakes and a missing source.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "bbolt:" + src}, cli.ExitUsage, "both --from and --to"},
		{[]string{"--from", "zip:x", "--to", "bbolt:" + back}, cli.ExitUsage, "want bbolt:PATH or etcd:"},
		{[]string{"--from", "bbolt:" + filepath.Join(dir, "none.db"), "--to", "etcd:" + endpoint}, cli.ExitError, "none.db"},
	} {
		r := storeCmd(append([]string{"store", "copy"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("store copy %v: exit %d, %q; want exit %d naming %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}
