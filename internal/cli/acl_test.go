package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/cli"
)

// execIn is exec with standard input.
func execIn(stdin string, getenv map[string]string, args ...string) result {
	root := &cobra.Command{Use: "moat", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.IsUsage(err) })
	root.AddCommand(cli.Commands(&cli.Options{Getenv: func(k string) string { return getenv[k] }})...)
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	code := cli.ExitCode(err)
	if err != nil && code != cli.ExitRefused {
		fmt.Fprintln(&errb, "moat:", err)
	}
	return result{out.String(), errb.String(), code}
}

// namedGolden is golden with the test's own name in the header: each command with the
// administrator's profile, in --profile or, with env, in MOAT_PROFILE (for command lines that end in
// "--" arguments).
func (e *env) namedGolden(name string, env bool, cmds ...[]string) []result {
	e.t.Helper()
	var b strings.Builder
	how := "--profile $DATA/admin-key.json"
	if env {
		how = "MOAT_PROFILE=$DATA/admin-key.json"
	}
	fmt.Fprintf(&b, "# %s: one in-process moat, the commands in the order of the test, each with\n", e.t.Name())
	fmt.Fprintf(&b, "# %s. IDs, ports, times and secrets are masked.\n", how)
	var out []result
	for _, args := range cmds {
		var r result
		if env {
			r = exec(map[string]string{"MOAT_PROFILE": e.profile}, args...)
		} else {
			r = e.moat(args...)
		}
		out = append(out, r)
		b.WriteString("\n" + e.transcript(args, r))
	}
	compareGolden(e.t, name, b.String())
	return out
}

// The account and acl commands against a real moat (golden transcripts), with `moat check --user`
// explaining a source restriction, and the exit codes and JSON a script relies on.
func TestCLIAccounts(t *testing.T) {
	e := startMoat(t)
	inst := e.inst
	e.must("whitelist", "modify", "--instance", inst, "--group", "local", "--ips", "127.0.0.0/8")
	e.must("whitelist", "modify", "--instance", inst, "--group", "ops", "--ips", "127.0.0.3")

	r := e.namedGolden("account_manage", false,
		args("account", "create", "--instance", inst, "--name", "app", "--password", "App_pass1", "--description", "orders"),
		args("account", "create", "--instance", inst, "--name", "report", "--privilege", "read-only", "--password", "Rep0rt_pass"),
		args("account", "list", "--instance", inst),
		args("account", "list", "--instance", inst, "-o", "json"),
		args("account", "describe", "--instance", inst, "--name", "report"),
		args("account", "modify", "--instance", inst, "--name", "app", "--description", "orders-v2"),
		args("account", "reset-password", "--instance", inst, "--name", "app", "--password", "N3w_app_pass"),
		args("account", "grant", "--instance", inst, "--name", "app", "--privilege", "ro"),
		args("account", "describe", "--instance", inst, "--name", "app", "-o", "json"),
		args("account", "delete", "--instance", inst, "--name", "report"),
		args("account", "delete", "--instance", inst, "--name", "default"),
		args("account", "create", "--instance", inst, "--name", "App", "--password", "App_pass1"),
		args("account", "create", "--instance", inst, "--name", "bob"),
		args("account", "grant", "--instance", inst, "--name", "app"),
		args("account", "describe", "--instance", inst, "--name", "nosuch"),
		args("account", "list", "--instance", inst),
	)
	var list []struct {
		AccountName        string
		DatabasePrivileges struct {
			DatabasePrivilege []struct{ AccountPrivilege string }
		}
	}
	if err := json.Unmarshal([]byte(r[3].stdout), &list); err != nil || len(list) != 3 || list[2].AccountName != "report" ||
		list[2].DatabasePrivileges.DatabasePrivilege[0].AccountPrivilege != "RoleReadOnly" {
		t.Fatalf("account list -o json: %v %s", err, r[3].stdout)
	}
	for i, want := range map[int]int{10: cli.ExitError, 11: cli.ExitError, 12: cli.ExitUsage, 13: cli.ExitUsage, 14: cli.ExitError} {
		if r[i].code != want || r[i].stdout != "" {
			t.Errorf("command %d: exit %d, want %d: %+v", i, r[i].code, want, r[i])
		}
	}
	if !strings.Contains(r[14].stderr, "InvalidAccountName.NotFound") || !strings.Contains(r[11].stderr, "InvalidAccountName.Format") {
		t.Errorf("API errors: %q %q", r[11].stderr, r[14].stderr)
	}

	// --password-stdin: the password never on the command line.
	pin := execIn("Stdin_pass1\n", map[string]string{"MOAT_PROFILE": e.profile}, "account", "create", "--instance", inst, "--name", "piped", "--password-stdin")
	if pin.code != 0 {
		t.Fatalf("account create --password-stdin: %+v", pin)
	}
	export := e.must("acl", "export", "--instance", inst).stdout
	if !strings.Contains(export, "user piped on #") || strings.Contains(export, "Stdin_pass1") {
		t.Fatalf("the piped password: %s", export)
	}
	if both := execIn("x\n", map[string]string{"MOAT_PROFILE": e.profile}, "account", "reset-password", "--instance", inst,
		"--name", "piped", "--password-stdin", "--password", "Other_pass1"); both.code != cli.ExitUsage {
		t.Fatalf("--password and --password-stdin: %+v", both)
	}
	e.must("account", "delete", "--instance", inst, "--name", "piped")

	dir := t.TempDir()
	e.masks = append(e.masks, mask{dir, "$DIR"})
	bobFile := filepath.Join(dir, "bob.acl")
	os.WriteFile(bobFile, []byte("user default on nopass ~* &* +@all\nuser bob on #"+strings.Repeat("ab", 32)+" ~cache:* +@all -@dangerous\n"), 0o644)
	badFile := filepath.Join(dir, "bad.acl")
	os.WriteFile(badFile, []byte("user bob on\nbob +get\nuser eve on +nosuch\n"), 0o644)
	exported := filepath.Join(dir, "users.acl")

	r = e.namedGolden("acl_manage", true,
		args("acl", "setuser", "--instance", inst, "--user", "alice", "--rules", "on >Alice_pw1 ~app:*", "--", "-@all", "+get", "(~log:*", "+xadd)"),
		args("acl", "setuser", "--instance", inst, "--user", "alice", "--", "+get", "+nosuch"),
		args("acl", "setuser", "--instance", inst, "--user", "alice", "--rules", "<Not_her_pw1"),
		args("acl", "list", "--instance", inst),
		args("acl", "list", "--instance", inst, "--user", "alice", "-o", "json"),
		args("acl", "sources", "--instance", inst, "--user", "alice", "--sources", "127.0.0.2,ops"),
		args("acl", "sources", "--instance", inst, "--user", "alice", "--sources", "10.0.0.5/24"),
		args("acl", "list", "--instance", inst),
		args("acl", "export", "--instance", inst),
		args("acl", "export", "--instance", inst, "-f", exported),
		args("acl", "import", "--instance", inst, "-f", badFile),
		args("acl", "import", "--instance", inst, "-f", bobFile),
		args("acl", "export", "--instance", inst, "-o", "json"),
		args("acl", "deluser", "--instance", inst, "--user", "default"),
		args("acl", "deluser", "--instance", inst, "--user", "bob"),
		args("acl", "import", "--instance", inst, "-f", exported),
		args("acl", "list", "--instance", inst),
	)
	if r[1].code != cli.ExitError || !strings.Contains(r[1].stderr, "ERR Error in ACL SETUSER modifier '+nosuch'") ||
		r[2].code != cli.ExitError || strings.Contains(r[2].stderr, "Not_her_pw1") || !strings.Contains(r[2].stderr, "'<***'") {
		t.Fatalf("bad rules: %+v %+v", r[1], r[2])
	}
	if r[10].code != cli.ExitError || !strings.Contains(r[10].stderr, "bad.acl:2 should start with user keyword") {
		t.Fatalf("bad aclfile: %+v", r[10])
	}
	if b, err := os.ReadFile(exported); err != nil || string(b) != r[8].stdout {
		t.Fatalf("export -f wrote %q (%v), export printed %q", b, err, r[8].stdout)
	}
	if fi, err := os.Stat(exported); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export -f: %v %v", fi.Mode(), err)
	}

	// The re-imported export dropped alice's sources with her (the import before removed her): set
	// them again for check.
	e.must("acl", "sources", "--instance", inst, "--user", "alice", "--sources", "127.0.0.2,ops")
	r = e.namedGolden("check_user", false,
		args("check", "--instance", inst, "--from", "127.0.0.2", "--user", "alice"),
		args("check", "--instance", inst, "--from", "127.0.0.3", "--user", "alice"),
		args("check", "--instance", inst, "--from", "127.0.0.4", "--user", "alice"),
		args("check", "--instance", inst, "--from", "127.0.0.4", "--user", "alice", "-o", "json"),
		args("check", "--instance", inst, "--from", "127.0.0.4"),
		args("check", "--instance", inst, "--from", "127.0.0.4", "--user", "nosuch"),
		args("acl", "sources", "--instance", inst, "--user", "alice", "--sources", ""),
		args("check", "--instance", inst, "--from", "127.0.0.4", "--user", "alice"),
	)
	for i, want := range []int{cli.ExitOK, cli.ExitOK, cli.ExitRefused, cli.ExitRefused, cli.ExitOK, cli.ExitRefused, cli.ExitOK, cli.ExitOK} {
		if r[i].code != want {
			t.Errorf("check %d: exit %d, want %d\n%s%s", i, r[i].code, want, r[i].stdout, r[i].stderr)
		}
	}
	var v struct {
		Allowed bool
		User    struct {
			Allowed, SourceRestricted bool
			Sources                   []string
		}
	}
	if err := json.Unmarshal([]byte(r[3].stdout), &v); err != nil || !v.Allowed || v.User.Allowed || !v.User.SourceRestricted || len(v.User.Sources) != 2 {
		t.Fatalf("check --user -o json: %v %s", err, r[3].stdout)
	}
	if strings.Contains(r[4].stdout, "user") {
		t.Fatalf("check without --user mentions a user: %s", r[4].stdout)
	}
}

// `moat key delete` (V1-signed, as every CLI call) deletes the key it names, not the caller's own.
func TestCLIKeyDelete(t *testing.T) {
	e := startMoat(t)
	r := e.must("key", "create", "--actions", "Describe*", "--instances", "*", "--description", "temporary", "-o", "json")
	var k struct{ AccessKeyId string }
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil {
		t.Fatal(err)
	}
	e.keys[k.AccessKeyId] = "MOAT_TEMPORARY_XXXXXXXXX"
	e.namedGolden("key_delete", false,
		args("key", "delete", "--id", k.AccessKeyId),
		args("key", "list"),
		args("key", "delete", "--id", k.AccessKeyId),
	)
	list := e.must("key", "list").stdout
	if strings.Contains(list, k.AccessKeyId) || !strings.Contains(list, e.keyID) {
		t.Fatalf("after key delete: %s", list)
	}
}

// Issue 15.7: with a key whose policy does not name DescribeACLUserSecrets (here "*"), acl list and
// acl export show the hashes masked, export warns that its file cannot be imported, and importing
// it is refused: the users keep their passwords.
func TestCLIACLHashesNeedTheSecretAction(t *testing.T) {
	e := startMoat(t)
	e.must("acl", "setuser", "--instance", e.inst, "--user", "alice", "--rules", "on >Alice_pw1 ~app:* +get")
	r := e.must("key", "create", "--actions", "*", "--instances", "*", "-o", "json")
	var k struct{ AccessKeyId, AccessKeySecret string }
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.AccessKeySecret == "" {
		t.Fatalf("key create: %v %s", err, r.stdout)
	}
	star := map[string]string{"MOAT_ENDPOINT": e.endpoint, "MOAT_ACCESS_KEY_ID": k.AccessKeyId, "MOAT_ACCESS_KEY_SECRET": k.AccessKeySecret}
	hash := acl.HashPassword([]byte("Alice_pw1"))
	list := exec(star, "acl", "list", "--instance", e.inst)
	export := exec(star, "acl", "export", "--instance", e.inst)
	if list.code != 0 || export.code != 0 || strings.Contains(list.stdout+export.stdout, hash) ||
		!strings.Contains(list.stdout, "on #xxxxx ~app:*") || !strings.Contains(export.stdout, "user alice on #xxxxx ~app:*") ||
		!strings.Contains(export.stderr, "warning: password hashes are masked (#xxxxx), so this file cannot be imported") {
		t.Fatalf("acl list/export with a * key:\n%+v\n%+v", list, export)
	}
	if js := exec(star, "acl", "list", "--instance", e.inst, "-o", "json"); !strings.Contains(js.stdout, `"PasswordsRedacted": true`) {
		t.Errorf("acl list -o json does not say the hashes are masked: %s", js.stdout)
	}
	file := filepath.Join(t.TempDir(), "masked.acl")
	os.WriteFile(file, []byte(export.stdout), 0o600)
	if imp := e.moat("acl", "import", "--instance", e.inst, "-f", file); imp.code != cli.ExitError {
		t.Fatalf("importing a masked export: %+v", imp)
	}
	if admin := e.must("acl", "export", "--instance", e.inst); !strings.Contains(admin.stdout, "#"+hash) || admin.stderr != "" {
		t.Errorf("the administrator's export (its policy names DescribeACLUserSecrets): %+v", admin)
	}
}
