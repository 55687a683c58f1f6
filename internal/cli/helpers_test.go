package cli_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/server"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// testdata is the golden files' directory, absolute: some tests change the working directory.
var testdata = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}()

// env is a real moat running in the test process, and what the CLI needs to reach it.
type env struct {
	t        *testing.T
	dir      string // data directory
	profile  string // <dir>/admin-key.json, moat's administrator key file
	endpoint string // http://host:port of the API
	keyID    string // administrator key
	secret   string
	inst     string // the default instance's ID
	listen   string // the default instance's address

	// masks turns run-specific values into stable placeholders before output is compared.
	masks []mask
	ports map[string]string // port → placeholder
	keys  map[string]string // key ID → placeholder
}

type mask struct{ old, new string }

// result is what one command did: its stdout, its stderr (with the "moat: <error>" line cmd/moat
// prints), and the process exit code.
type result struct {
	stdout, stderr string
	code           int
}

// startMoat starts a moat on a new data directory, closed when the test ends.
func startMoat(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), ports: map[string]string{}, keys: map[string]string{}}
	// Ports are the system's choice: other tests on this machine take ports too.
	// The default instance names the in-process engine: the transcripts show its answers (no backend ACL
	// identities); an instance without a backend (a managed redis-server) is described in TestCLISession.
	srv, err := server.Start(server.Options{DataDir: e.dir, Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Banner: io.Discard, Backend: "embedded"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.profile = filepath.Join(e.dir, server.AdminKeyFile)
	b, err := os.ReadFile(e.profile)
	if err != nil {
		t.Fatal(err)
	}
	var p server.Profile
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	e.keyID, e.secret, e.endpoint = p.AccessKeyId, p.AccessKeySecret, p.Endpoint
	if e.endpoint != "http://"+srv.APIAddr().String() {
		t.Fatalf("admin key file endpoint %q, API at %s", e.endpoint, srv.APIAddr())
	}
	insts, err := srv.Plane().Instances()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if in.Origin == model.OriginDefault {
			e.inst = in.ID
		}
	}
	e.listen = srv.Gateway(e.inst).Addrs()[0].String()
	e.masks = []mask{{e.dir, "$DATA"}, {e.inst, "r-DEFAULT-INSTANCE"}}
	e.keys[e.keyID] = "MOAT_ADMIN_XXXXXXXXXXXXX"
	e.ports[port(e.listen)] = "PORT1"
	e.ports[port(srv.APIAddr().String())] = "PORTA"
	return e
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// exec runs the client commands with args as cmd/moat does (root flags, exit code, the "moat: …"
// error line), with getenv as the environment.
func exec(getenv map[string]string, args ...string) result {
	root := &cobra.Command{Use: "moat", SilenceUsage: true, SilenceErrors: true}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.IsUsage(err) })
	root.AddCommand(cli.Commands(&cli.Options{Getenv: func(k string) string { return getenv[k] }})...)
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	code := cli.ExitCode(err)
	if err != nil && code != cli.ExitRefused {
		fmt.Fprintln(&errb, "moat:", err)
	}
	return result{out.String(), errb.String(), code}
}

// moat runs a command with the administrator's profile file and an empty environment.
func (e *env) moat(args ...string) result {
	return exec(nil, append(args, "--profile", e.profile)...)
}

// must runs a command with the administrator's profile and fails the test unless it succeeds.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.moat(args...)
	if r.code != 0 {
		e.t.Fatalf("moat %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

var (
	reTime      = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	reRequestID = regexp.MustCompile(`[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}`)
	reKeyID     = regexp.MustCompile(`MOAT[A-Z0-9]{20}`)
	reSecret    = regexp.MustCompile(`(AccessKeySecret"?:?\s+"?)([A-Za-z0-9]{30})`)
	rePort      = regexp.MustCompile(`127\.0\.0\.1:(\d{4,5})`)
	reNextToken = regexp.MustCompile(`--next [0-9a-f]{16}`) // the audit page token starts with a time
)

// mask replaces what changes from run to run with placeholders of the same width (so that tables stay
// aligned): times (audit page tokens' too), request IDs, key IDs, secrets, the default instance's ID, ports, the data directory.
func (e *env) mask(s string) string {
	for _, m := range e.masks {
		s = strings.ReplaceAll(s, m.old, m.new)
	}
	s = reTime.ReplaceAllString(s, "YYYY-MM-DDThh:mm:ssZ")
	s = reNextToken.ReplaceAllString(s, "--next TTTTTTTTTTTTTTTT")
	s = reRequestID.ReplaceAllString(s, "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX")
	s = reSecret.ReplaceAllString(s, "${1}<secret, shown once: masked>")
	s = reKeyID.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := e.keys[id]; !ok {
			e.keys[id] = fmt.Sprintf("MOAT_KEY%d_XXXXXXXXXXXXXX", len(e.keys)+1)[:24]
		}
		return e.keys[id]
	})
	return rePort.ReplaceAllStringFunc(s, func(a string) string {
		p := port(a)
		if _, ok := e.ports[p]; !ok {
			e.ports[p] = fmt.Sprintf("PORT%d", len(e.ports))
		}
		return "127.0.0.1:" + e.ports[p]
	})
}

// transcript renders one command and its result the way a terminal session reads.
func (e *env) transcript(args []string, r result) string {
	var b strings.Builder
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " *'\"") {
			a = "'" + a + "'"
		}
		quoted[i] = a
	}
	fmt.Fprintf(&b, "$ moat %s\n", strings.Join(quoted, " "))
	b.WriteString(r.stdout)
	if r.stderr != "" {
		b.WriteString("[stderr]\n" + r.stderr)
	}
	fmt.Fprintf(&b, "[exit %d]\n", r.code)
	return e.mask(b.String())
}

// golden runs each command with the administrator's profile and compares the session with
// testdata/<name>.golden (rewritten with -update). It returns the raw results.
func (e *env) golden(name string, cmds ...[]string) []result {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("# TestCLISession: one in-process moat, the golden files' commands run in the order of the test;\n")
	b.WriteString("# each with --profile $DATA/admin-key.json. IDs, ports, times and secrets are masked.\n")
	var out []result
	for _, args := range cmds {
		r := e.moat(args...)
		out = append(out, r)
		b.WriteString("\n" + e.transcript(args, r))
	}
	compareGolden(e.t, name, b.String())
	return out
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdata, name+".golden")
	if *update {
		if err := os.MkdirAll(testdata, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("testdata/%s.golden differs (go test ./internal/cli -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func args(s ...string) []string { return s }
