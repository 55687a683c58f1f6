package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/redistest"
)

// Reconciling the config file (at start and on SIGHUP, reconcile.go) against what the API changed.

const illegal = "-ERR illegal address"

func pong(got string) bool { return got == "+PONG" || got == "PONG" }

// groupEntries returns the entries of instance id's whitelist group as stored, or nil without it.
func groupEntries(t *testing.T, s *Server, id, group string) []string {
	t.Helper()
	in, err := s.Plane().Instance(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range in.Groups {
		if g.Name == group {
			var out []string
			for _, e := range g.Entries {
				out = append(out, e.String())
			}
			return out
		}
	}
	return nil
}

// F3: a reload, or a restart, with the file unchanged keeps every parameter set through the API that
// the file does not declare (rename-command, maxclients-per-ip, proxy-protocol — all with defaults of
// their own) and what the API keeps beside the instance's users (an account's description, a user's
// source restriction); a parameter the file declares takes the file's value again.
func TestReloadKeepsWhatTheFileDoesNotDeclare(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	writeConfig(t, cfg, "instances:\n  - id: r-keep\n    listen: ["+listen+"]\n    params:\n      timeout: \"10\"\n"+
		"    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer func() { s.Close() }()
	admin := adminClient(t, s)
	const id = "r-keep"
	if err := admin.Call("ModifyInstanceConfig", map[string]string{"InstanceId": id,
		"Config": `{"rename-command":"FLUSHALL \"\"","maxclients-per-ip":"5","proxy-protocol":"10.9.9.9","timeout":"20"}`}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Call("CreateAccount", map[string]string{"InstanceId": id, "AccountName": "app",
		"AccountPassword": "App_pass1", "AccountDescription": "orders"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Call("ModifyAccountSources", map[string]string{"InstanceId": id, "UserName": "app", "Sources": "10.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		if got := do(t, listen, "127.0.0.2", "FLUSHALL"); !strings.HasPrefix(got, "-ERR unknown command 'FLUSHALL'") {
			t.Errorf("%s: FLUSHALL answered %q, want it renamed away", when, got)
		}
		if got := do(t, listen, "127.0.0.3", "AUTH app App_pass1"); !strings.HasPrefix(got, "-WRONGPASS") {
			t.Errorf("%s: AUTH app from outside its sources: %q, want WRONGPASS", when, got)
		}
		in, err := s.Plane().Instance(id)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"rename-command": `FLUSHALL ""`, "maxclients-per-ip": "5",
			"proxy-protocol": "10.9.9.9", "timeout": "10"} {
			if got := in.Param(name); got != want {
				t.Errorf("%s: %s = %q, want %q", when, name, got, want)
			}
		}
		if in.Accounts["app"].Description != "orders" || !slices.Equal(in.UserSources["app"], []string{"10.0.0.0/8"}) {
			t.Errorf("%s: account %+v, sources %v", when, in.Accounts, in.UserSources)
		}
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	check("after a reload")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = start(t, Options{ConfigPath: cfg, DataDir: dir})
	check("after a restart")
}

// F4: a reload that fails changes nothing, even where the file is valid: instance A's whitelist change
// is not stored when instance B's certificate files do not load, whichever comes first in the file.
func TestFailedReloadChangesNothing(t *testing.T) {
	for _, bFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("broken_first=%v", bFirst), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "moat.yaml")
			la, lb := freeAddr(t), freeAddr(t)
			a := "  - id: r-a\n    listen: [" + la + "]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n"
			b := "  - id: r-b\n    listen: [" + lb + "]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n"
			writeConfig(t, cfg, "instances:\n"+a+b)
			s := start(t, Options{ConfigPath: cfg, DataDir: dir})
			defer s.Close()
			before, err := s.Plane().AuditLog(controlplane.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}

			a2 := strings.Replace(a, "127.0.0.0/8", "127.0.0.5", 1)
			b2 := b + "    params:\n      tls-cert-file: " + filepath.Join(dir, "missing.pem") + "\n      tls-key-file: " + filepath.Join(dir, "missing.key") + "\n"
			body := "instances:\n" + a2 + b2
			if bFirst {
				body = "instances:\n" + b2 + a2
			}
			writeConfig(t, cfg, body)
			if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "r-b") || !strings.Contains(err.Error(), "TLS") {
				t.Fatalf("reload with missing certificate files: %v, want the instance and TLS named", err)
			}
			if got := do(t, la, "127.0.0.9", "PING"); !pong(got) {
				t.Errorf("instance A after the failed reload: %q, want the old whitelist serving", got)
			}
			if got := groupEntries(t, s, "r-a", "local"); !slices.Equal(got, []string{"127.0.0.0/8"}) {
				t.Errorf("instance A's group as stored: %v", got)
			}
			after, err := s.Plane().AuditLog(controlplane.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				e := after[0] // newest first
				t.Errorf("the failed reload wrote %d audit record(s), the last %s of %s", len(after)-len(before), e.Action, e.Instance)
			}
		})
	}
}

// F5: reloads racing API changes lose none of them: each reload's read-merge-write of an instance is
// one transaction, so an API change acknowledged meanwhile is merged, not overwritten.
func TestReloadRacingAPILosesNoChange(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfg, "instances:\n  - id: r-race\n    listen: ["+freeAddr(t)+"]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer s.Close()
	admin := adminClient(t, s)
	const n = 40
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	reloads := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.Reload(); err != nil {
				t.Error(err)
				return
			}
			reloads++
		}
	}()
	for k := range n {
		if err := admin.Call("ModifySecurityIps", map[string]string{"InstanceId": "r-race", "SecurityIpGroupName": "api",
			"SecurityIps": fmt.Sprintf("10.0.%d.1", k), "ModifyMode": "Append"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if got := groupEntries(t, s, "r-race", "api"); len(got) != n {
		t.Fatalf("after %d appends racing %d reloads, group api holds %d entries: %v", n, reloads, len(got), got)
	}
}

// F6: a whitelist group the config file declared and no longer declares is removed — at the reload
// that drops it, or at the next start — and the removal is logged; groups created through the API stay;
// the default group, which cannot be removed, goes back to 127.0.0.1. A default group declared as
// 127.0.0.1 is applied like any other declaration.
func TestGroupNoLongerDeclaredIsRemoved(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	head := "instances:\n  - id: r-grp\n    listen: [" + listen + "]\n    whitelist:\n"
	const (
		app   = "      - group: app\n        ips: [127.0.0.5]\n"
		ops   = "      - group: ops\n        attribute: hidden\n        ips: [127.0.0.7]\n"
		deflt = "      - group: default\n        ips: [127.0.0.8]\n"
	)
	writeConfig(t, cfg, head+app+ops+deflt)
	var logs redistest.Buffer
	opts := Options{ConfigPath: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil)), APIListen: "127.0.0.1:0"}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	if err := adminClient(t, s).Call("ModifySecurityIps", map[string]string{"InstanceId": "r-grp", "SecurityIpGroupName": "api",
		"SecurityIps": "127.0.0.9", "ModifyMode": "Cover"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"127.0.0.5", "127.0.0.7", "127.0.0.8", "127.0.0.9"} {
		if got := do(t, listen, src, "PING"); !pong(got) {
			t.Fatalf("%s before: %q", src, got)
		}
	}

	// The file drops ops and declares default as 127.0.0.1: both apply at the reload.
	writeConfig(t, cfg, head+app+"      - group: default\n        ips: [127.0.0.1]\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]bool{"127.0.0.5": true, "127.0.0.7": false, "127.0.0.8": false, "127.0.0.9": true} {
		if got := do(t, listen, src, "PING"); pong(got) != want || (!want && got != illegal) {
			t.Errorf("after dropping ops, %s: %q", src, got)
		}
	}
	if got := groupEntries(t, s, "r-grp", "ops"); got != nil {
		t.Errorf("ops still stored: %v", got)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"whitelist group no longer in the config file: removed\" instance=r-grp group=ops") {
		t.Errorf("no WARN naming the removed group:\n%s", logs.String())
	}

	// While moat is stopped the file drops app and the default group: the start removes app, and the
	// default group stays 127.0.0.1; the API's group is kept.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, cfg, head+"      - group: other\n        ips: [127.0.0.6]\n")
	if s, err = Start(opts); err != nil {
		t.Fatal(err)
	}
	for src, want := range map[string]bool{"127.0.0.5": false, "127.0.0.6": true, "127.0.0.8": false, "127.0.0.9": true} {
		if got := do(t, listen, src, "PING"); pong(got) != want || (!want && got != illegal) {
			t.Errorf("after a restart without app, %s: %q", src, got)
		}
	}
	in, err := s.Plane().Instance("r-grp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range in.Groups {
		names = append(names, g.Name)
	}
	if !slices.Equal(names, []string{allowlist.DefaultGroup, "api", "other"}) {
		t.Errorf("groups after the restart: %v, want default, api, other", names)
	}
	if got := groupEntries(t, s, "r-grp", allowlist.DefaultGroup); !slices.Equal(got, []string{"127.0.0.1/32"}) {
		t.Errorf("default group: %v", got)
	}
}

// Before moat knew which groups the file declared (a data directory without that record), a group
// the file does not declare is kept, and a WARN says so and how to delete it.
func TestUndeclaredGroupOfUnknownOriginIsKeptWithWarning(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	head := "instances:\n  - id: r-old\n    listen: [" + listen + "]\n    whitelist:\n      - group: app\n        ips: [127.0.0.5]\n"
	writeConfig(t, cfg, head+"      - group: ops\n        ips: [127.0.0.7]\n")
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := removeDeclaredRecord(dir); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, cfg, head)
	var logs redistest.Buffer
	s, err := Start(Options{ConfigPath: cfg, DataDir: dir, Log: slog.New(slog.NewTextHandler(&logs, nil)), APIListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := do(t, listen, "127.0.0.7", "PING"); !pong(got) {
		t.Errorf("ops, of unknown origin: %q, want kept", got)
	}
	if !strings.Contains(logs.String(), "group=ops") || !strings.Contains(logs.String(), "moat whitelist delete-group --instance r-old --group ops") {
		t.Errorf("no WARN naming the kept group and how to delete it:\n%s", logs.String())
	}
	// The start recorded what the file declares now: the next reload takes ops for the API's.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "group=ops"); n != 1 {
		t.Errorf("%d log lines name ops after a reload, want the one of the start", n)
	}
}

// removeDeclaredRecord removes the record of the groups the config file declared from data directory dir.
func removeDeclaredRecord(dir string) error {
	err := os.Remove(filepath.Join(dir, declaredFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
