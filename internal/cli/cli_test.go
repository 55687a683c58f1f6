package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/cli"
)

// A session with every client command against a real moat, compared with golden transcripts; the
// assertions beside them check what a script relies on (exit codes, JSON fields, effects).
func TestCLISession(t *testing.T) {
	e := startMoat(t)

	t.Run("instance create", func(t *testing.T) {
		e.t = t
		// The default instance's ID is random, so it would sort anywhere in lists: it goes first.
		e.must("instance", "delete", "--instance", e.inst)
		r := e.golden("instance_create",
			args("instance", "create", "--id", "r-app", "--name", "app", "--param", "protected-mode=no", "--backend", "embedded"),
			args("instance", "create", "--id", "r-cache", "--listen", "127.0.0.1:0", "--engine-version", "6.0", "--backend", "embedded", "-o", "json"),
		)
		if !strings.Contains(r[0].stdout, "created r-app listening on 127.0.0.1:") || !strings.Contains(r[1].stdout, `"127.0.0.1:`) || strings.Contains(r[1].stdout, `:0"`) {
			t.Fatalf("create: %+v", r)
		}
	})
	t.Run("instance list and describe", func(t *testing.T) {
		e.t = t
		r := e.golden("instance_list", args("instance", "list"), args("instance", "list", "-o", "json"),
			args("instance", "describe", "--instance", "r-app"))
		var list []struct{ InstanceId, Backend string }
		if err := json.Unmarshal([]byte(r[1].stdout), &list); err != nil || len(list) != 2 || list[0].InstanceId != "r-app" || list[0].Backend != "embedded" {
			t.Fatalf("instance list -o json: %v %s", err, r[1].stdout)
		}
	})
	t.Run("whitelist", func(t *testing.T) {
		e.t = t
		e.golden("whitelist_modify",
			args("whitelist", "describe", "--instance", "r-app"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "app", "--ips", "10.0.0.0/24,10.0.1.5"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "app", "--ips", "10.0.2.0/24,192.168.7.7", "--mode", "append"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "app", "--ips", "192.168.7.7", "--mode", "delete"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "dts_sync", "--ips", "100.104.0.0/16", "--attribute", "hidden"),
			args("whitelist", "modify", "--instance", "r-app", "--ips", "172.16.0.0/12"),
		)
		r := e.golden("whitelist_open",
			args("whitelist", "modify", "--instance", "r-app", "--group", "open", "--ips", "0.0.0.0/0"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "open6", "--ips", "::/0", "-o", "json"),
		)
		for _, x := range r {
			if x.code != 0 || !strings.HasPrefix(x.stderr, "warning: group \"open") || !strings.Contains(x.stderr, "every address") {
				t.Fatalf("0.0.0.0/0 and ::/0 must succeed with a warning on stderr: %+v", x)
			}
		}
		r = e.golden("whitelist_describe",
			args("whitelist", "describe", "--instance", "r-app"),
			args("whitelist", "describe", "--instance", "r-app", "-o", "json"),
		)
		var groups []struct{ SecurityIpGroupName, SecurityIpGroupAttribute, SecurityIpList string }
		if err := json.Unmarshal([]byte(r[1].stdout), &groups); err != nil || len(groups) != 5 ||
			groups[1].SecurityIpList != "10.0.0.0/24,10.0.1.5,10.0.2.0/24" || groups[2].SecurityIpGroupAttribute != "hidden" {
			t.Fatalf("whitelist describe -o json: %v %s", err, r[1].stdout)
		}
		e.golden("whitelist_delete_group",
			args("whitelist", "delete-group", "--instance", "r-app", "--group", "open"),
			args("whitelist", "delete-group", "--instance", "r-app", "--group", "open6"),
			args("whitelist", "delete-group", "--instance", "r-app", "--group", "dts_sync"),
			args("whitelist", "delete-group", "--instance", "r-app", "--group", "default"),
			args("whitelist", "describe", "--instance", "r-app"),
		)
	})
	t.Run("check", func(t *testing.T) {
		e.t = t
		r := e.golden("check_allowed",
			args("check", "--instance", "r-app", "--from", "10.0.1.5"),
			args("check", "--instance", "r-app", "--from", "::ffff:10.0.2.9", "-o", "json"),
		)
		for _, x := range r {
			if x.code != cli.ExitOK {
				t.Fatalf("allowed address: exit %d", x.code)
			}
		}
		r = e.golden("check_refused",
			args("check", "--instance", "r-app", "--from", "192.0.2.1"),
			args("check", "--instance", "r-nosuch", "--from", "127.0.0.1"),
			args("check", "--instance", "r-app", "--from", "192.0.2.1", "-o", "json"),
		)
		if r[0].code != cli.ExitRefused || r[2].code != cli.ExitRefused || r[0].stderr != "" {
			t.Fatalf("refused address: %+v", r)
		}
		if r[1].code != cli.ExitError || !strings.Contains(r[1].stderr, "InvalidInstanceId.NotFound") {
			t.Fatalf("unknown instance: %+v", r[1])
		}
		var v struct{ Allowed bool }
		if err := json.Unmarshal([]byte(r[2].stdout), &v); err != nil || v.Allowed {
			t.Fatalf("check -o json: %v %s", err, r[2].stdout)
		}
		// --via and --tls describe the connection: here a PROXY header from a peer the instance does not
		// trust, which the gateway refuses as a protocol error although the peer itself is listed.
		x := e.moat("check", "--instance", "r-app", "--from", "192.0.2.1", "--via", "10.0.1.5", "--tls")
		if x.code != cli.ExitRefused || !strings.Contains(x.stdout, "10.0.1.5 is not a trusted load balancer") {
			t.Fatalf("check --via --tls: %+v", x)
		}
	})
	t.Run("instance params and set", func(t *testing.T) {
		e.t = t
		r := e.golden("instance_params",
			args("instance", "params", "--instance", "r-app"),
			args("instance", "set", "--instance", "r-app", "--param", "drop-on-revoke=yes", "--param", "timeout=300"),
			args("instance", "params", "--instance", "r-app", "-o", "json"),
			args("instance", "set", "--instance", "r-app", "--param", "timeout=5", "--param", "maxmemory=1gb"),
			args("instance", "set", "--instance", "r-app", "--param", "timeout"),
		)
		if !strings.Contains(r[2].stdout, `"ParameterValue": "300"`) || !strings.Contains(r[2].stdout, `"ParameterValue": "yes"`) {
			t.Fatalf("params after set: %s", r[2].stdout)
		}
		if r[3].code != cli.ExitError || !strings.Contains(r[3].stderr, "InvalidParameter.Config") || r[4].code != cli.ExitUsage {
			t.Fatalf("bad set: %+v", r[3:])
		}
	})
	t.Run("keys", func(t *testing.T) {
		e.t = t
		// The secret is shown once, on creation; take it from the JSON form to use the key below.
		r := e.must("key", "create", "--actions", "Describe*,CheckAccess", "--instances", "r-app", "--description", "monitoring", "-o", "json")
		var k struct{ AccessKeyId, AccessKeySecret string }
		if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || len(k.AccessKeySecret) != 30 {
			t.Fatalf("key create -o json: %v %s", err, r.stdout)
		}
		e.masks = append(e.masks, mask{k.AccessKeySecret, "<monitoring key's secret>"})
		r2 := e.golden("key_create", args("key", "create", "--actions", "ModifySecurityIps", "--instances", "r-app", "--description", "deploy"))
		if !strings.Contains(r2[0].stdout, "AccessKeySecret") || strings.Contains(e.mask(r2[0].stdout), k.AccessKeySecret) {
			t.Fatalf("key create: %q", r2[0].stdout)
		}
		// Keys are listed by ID, which is random: name them, and sort the rows before comparing.
		e.keys[k.AccessKeyId] = "MOAT_MONITORING_XXXXXXXX"
		r = e.moat("key", "list")
		if r.code != 0 || strings.Contains(r.stdout, k.AccessKeySecret) || strings.Contains(r.stdout, e.secret) || strings.Count(r.stdout, "\n") != 4 {
			t.Fatalf("key list: %+v", r)
		}
		lines := strings.SplitAfter(e.mask(r.stdout), "\n")
		slices.Sort(lines[1:])
		r.stdout = strings.Join(lines, "")
		compareGolden(t, "key_list", "# rows sorted after masking (moat lists keys by their random IDs)\n\n"+e.transcript(args("key", "list"), r))

		// The new key from flags: it may describe and check, and nothing else.
		with := func(a ...string) []string {
			return append(a, "--endpoint", e.endpoint, "--access-key-id", k.AccessKeyId, "--access-key-secret", k.AccessKeySecret)
		}
		var got []result
		for _, a := range [][]string{
			with("whitelist", "describe", "--instance", "r-app"),
			with("check", "--instance", "r-app", "--from", "10.0.0.1"),
			with("whitelist", "modify", "--instance", "r-app", "--group", "sneak", "--ips", "0.0.0.0/0"),
		} {
			got = append(got, exec(nil, a...))
		}
		if got[0].code != 0 || got[1].code != 0 || got[2].code != cli.ExitError || !strings.Contains(got[2].stderr, "Forbidden.RAM") {
			t.Fatalf("the monitoring key: %+v", got)
		}
		var b strings.Builder
		for i, a := range [][]string{
			with("whitelist", "describe", "--instance", "r-app"),
			with("check", "--instance", "r-app", "--from", "10.0.0.1"),
			with("whitelist", "modify", "--instance", "r-app", "--group", "sneak", "--ips", "0.0.0.0/0"),
		} {
			b.WriteString("\n" + e.transcript(a, got[i]))
		}
		compareGolden(t, "key_flags", "# the monitoring key (Describe*,CheckAccess on r-app) from flags, no profile\n"+b.String())
	})
	t.Run("api errors", func(t *testing.T) {
		e.t = t
		r := e.golden("api_errors",
			args("whitelist", "modify", "--instance", "r-app", "--group", "Bad_", "--ips", "10.0.0.1"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "app", "--ips", "10.23.12.5/24,10.0.0.1, 10.0.0.2"),
			args("whitelist", "modify", "--instance", "r-app", "--group", "app", "--ips", "10.0.0.99", "--mode", "delete"),
			args("instance", "describe", "--instance", "r-nosuch"),
		)
		want := []string{"InvalidGroupName.Format", "InvalidSecurityIPList.Format", "InvalidSecurityIPs.NotFound", "InvalidInstanceId.NotFound"}
		for i, x := range r {
			if x.code != cli.ExitError || x.stdout != "" || !strings.Contains(x.stderr, want[i]) {
				t.Errorf("error %d: want exit 1 and %s on stderr, got %+v", i, want[i], x)
			}
		}
	})
	t.Run("audit", func(t *testing.T) {
		e.t = t
		r := e.golden("audit",
			args("audit", "--instance", "r-app", "--limit", "8"),
			args("audit", "--instance", "r-app", "--action", "ModifyInstanceConfig", "--limit", "2", "-o", "json"),
			args("audit", "--instance", "r-app", "--failed", "--limit", "8"),
			args("audit", "--instance", "r-app", "--action", "modifysecurityips", "--limit", "1"),
		)
		if strings.Contains(r[0].stdout, "denied") || !strings.Contains(r[0].stdout, "ModifySecurityIps") || !strings.Contains(r[0].stdout, " ok") {
			t.Fatalf("audit table of changes: %s", r[0].stdout)
		}
		if !strings.Contains(r[2].stdout, "denied") || !strings.Contains(r[2].stdout, "ModifySecurityIps") || strings.Contains(r[2].stdout, " ok") {
			t.Fatalf("audit table of failed calls: %s", r[2].stdout)
		}
		if !strings.Contains(r[3].stderr, "more records match: add --next ") {
			t.Fatalf("audit with more records than --limit: %+v", r[3])
		}
		type params struct{ Params map[string]string }
		var entries []struct {
			KeyID         string `json:"key_id"`
			Result        string
			Before, After params
		}
		// The one change of parameters (the refused one is a failed call).
		if err := json.Unmarshal([]byte(r[1].stdout), &entries); err != nil || len(entries) != 1 ||
			entries[0].KeyID != e.keyID || entries[0].Result != "ok" ||
			entries[0].After.Params["timeout"] != "300" || entries[0].Before.Params["timeout"] != "" {
			t.Fatalf("audit -o json: %v %s", err, r[1].stdout)
		}
	})
	t.Run("instance delete", func(t *testing.T) {
		e.t = t
		e.golden("instance_delete",
			args("instance", "delete", "--instance", "r-app"),
			args("instance", "list"),
			args("whitelist", "describe", "--instance", "r-app"),
		)
	})
}

// Credentials come from flags, then the environment, then a profile file (--profile, MOAT_PROFILE, or
// ./moat-data/admin-key.json); without any, the CLI says how to pass them and exits 2.
func TestCLICredentials(t *testing.T) {
	e := startMoat(t)
	t.Chdir(t.TempDir()) // no ./moat-data/admin-key.json here
	describe := []string{"whitelist", "describe", "--instance", e.inst}
	ok := func(name string, r result) {
		t.Helper()
		if r.code != 0 || !strings.Contains(r.stdout, "default  -          127.0.0.1") {
			t.Errorf("%s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}

	none := exec(nil, describe...)
	if none.code != cli.ExitUsage || !strings.Contains(none.stderr, "no credentials") || !strings.Contains(none.stderr, "MOAT_ACCESS_KEY_ID") {
		t.Fatalf("no credentials: %+v", none)
	}
	ok("environment", exec(map[string]string{"MOAT_ENDPOINT": e.endpoint, "MOAT_ACCESS_KEY_ID": e.keyID, "MOAT_ACCESS_KEY_SECRET": e.secret}, describe...))
	ok("MOAT_PROFILE", exec(map[string]string{"MOAT_PROFILE": e.profile}, describe...))
	ok("--profile", exec(nil, append(describe, "--profile", e.profile)...))
	ok("flags", exec(nil, append(describe, "--endpoint", e.endpoint, "--access-key-id", e.keyID, "--access-key-secret", e.secret)...))
	// Flags win over the environment.
	ok("flags over environment", exec(map[string]string{"MOAT_ENDPOINT": "http://127.0.0.1:1", "MOAT_ACCESS_KEY_ID": "MOATWRONG", "MOAT_ACCESS_KEY_SECRET": "wrong"},
		append(describe, "--endpoint", e.endpoint, "--access-key-id", e.keyID, "--access-key-secret", e.secret)...))
	// A profile without an endpoint, with the endpoint from the environment.
	bare := filepath.Join(t.TempDir(), "ci.json")
	os.WriteFile(bare, []byte(`{"AccessKeyId":"`+e.keyID+`","AccessKeySecret":"`+e.secret+`"}`), 0o600)
	ok("profile without endpoint", exec(map[string]string{"MOAT_ENDPOINT": e.endpoint}, append(describe, "--profile", bare)...))
	// The administrator key file where `moat serve` writes it by default.
	os.Mkdir("moat-data", 0o700)
	b, _ := os.ReadFile(e.profile)
	os.WriteFile(filepath.Join("moat-data", "admin-key.json"), b, 0o600)
	ok("./moat-data/admin-key.json", exec(nil, describe...))

	wrong := exec(map[string]string{"MOAT_ENDPOINT": e.endpoint, "MOAT_ACCESS_KEY_ID": e.keyID, "MOAT_ACCESS_KEY_SECRET": "not-the-secret"}, describe...)
	if wrong.code != cli.ExitError || !strings.Contains(wrong.stderr, "SignatureDoesNotMatch") || !strings.Contains(wrong.stderr, "HTTP 400") {
		t.Fatalf("wrong secret: %+v", wrong)
	}
	unknown := exec(map[string]string{"MOAT_ENDPOINT": e.endpoint, "MOAT_ACCESS_KEY_ID": "MOATNOSUCHKEY", "MOAT_ACCESS_KEY_SECRET": "x"}, describe...)
	if unknown.code != cli.ExitError || !strings.Contains(unknown.stderr, "InvalidAccessKeyId.NotFound") {
		t.Fatalf("unknown key: %+v", unknown)
	}
}

// Mistakes on the command line exit 2 and change nothing; an unreachable moat exits 1.
func TestCLIUsageErrors(t *testing.T) {
	e := startMoat(t)
	t.Chdir(t.TempDir())
	var b strings.Builder
	b.WriteString("# Command-line mistakes exit 2 and send nothing (credentials from the environment, except in the\n")
	b.WriteString("# first command: none at all). An unreachable moat or an unreadable --profile file exits 1.\n")
	env := map[string]string{"MOAT_ENDPOINT": e.endpoint, "MOAT_ACCESS_KEY_ID": e.keyID, "MOAT_ACCESS_KEY_SECRET": e.secret}
	cases := []struct {
		env  map[string]string
		args []string
		code int
	}{
		{nil, args("whitelist", "describe", "--instance", e.inst), cli.ExitUsage},
		{env, args("whitelist", "describe", "--instance", e.inst, "-o", "yaml"), cli.ExitUsage},
		{env, args("whitelist", "modify", "--instance", e.inst, "--group", "app", "--ips", "10.0.0.1", "--output", "xml"), cli.ExitUsage},
		{env, args("whitelist", "modify", "--instance", e.inst, "--ips", "10.0.0.1", "--mode", "replace"), cli.ExitUsage},
		{env, args("whitelist", "describe"), cli.ExitUsage},
		{env, args("whitelist", "describe", e.inst), cli.ExitUsage},
		{env, args("whitelist", "describe", "--instance", e.inst, "--color"), cli.ExitUsage},
		{env, args("instance", "set", "--instance", e.inst, "--param", "=5"), cli.ExitUsage},
		{map[string]string{"MOAT_ENDPOINT": "http://127.0.0.1:1", "MOAT_ACCESS_KEY_ID": e.keyID, "MOAT_ACCESS_KEY_SECRET": e.secret},
			args("whitelist", "describe", "--instance", e.inst), cli.ExitError},
		{nil, args("whitelist", "describe", "--instance", e.inst, "--profile", "/nonexistent/admin-key.json"), cli.ExitError},
	}
	for _, c := range cases {
		r := exec(c.env, c.args...)
		if r.code != c.code || r.stdout != "" || !strings.HasPrefix(r.stderr, "moat: ") {
			t.Errorf("moat %s: want exit %d with only an error on stderr, got exit %d\n%s%s", strings.Join(c.args, " "), c.code, r.code, r.stdout, r.stderr)
		}
		b.WriteString("\n" + e.transcript(c.args, r))
	}
	// The --output mistake was caught before the change was sent.
	r := exec(env, "whitelist", "describe", "--instance", e.inst, "-o", "json")
	if strings.Contains(r.stdout, `"app"`) {
		t.Fatalf("a modify with a bad --output changed the whitelist:\n%s", r.stdout)
	}
	compareGolden(t, "usage_errors", b.String())
}

// An instance created without a backend is served by a managed redis-server (installed where the tests
// run): describe says so, with its version and PID (which vary: the transcripts name the in-process
// engine instead).
func TestCLIDescribeManagedEngine(t *testing.T) {
	e := startMoat(t)
	e.must("instance", "create", "--id", "r-managed")
	r := e.moat("instance", "describe", "--instance", "r-managed")
	if r.code != 0 || !strings.Contains(r.stdout, "SERVED BY") || !strings.Contains(r.stdout, "managed redis-server ") || !strings.Contains(r.stdout, " pid ") {
		t.Fatalf("describe of an instance without a backend: %+v", r)
	}
	r = e.moat("instance", "describe", "--instance", "r-managed", "-o", "json")
	var out []struct {
		Backend       string
		BackendEngine struct {
			Kind, Server string
			PID          int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 || out[0].Backend != "auto" ||
		out[0].BackendEngine.Kind != "managed" || out[0].BackendEngine.Server != "redis-server" || out[0].BackendEngine.PID == 0 {
		t.Fatalf("describe -o json: %v %s", err, r.stdout)
	}
}
