package rediscmd_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/redistest"
)

// The generated table is exactly what a live redis-server 7.0.15 lists.
func TestTableMatchesRedis(t *testing.T) {
	srv := redistest.Start(t)
	out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port), "COMMAND", "LIST").Output()
	if err != nil {
		t.Fatalf("redis-cli COMMAND LIST: %v", err)
	}
	live := strings.Fields(string(out))
	if len(live) < 300 {
		t.Fatalf("COMMAND LIST gave %d names: %q", len(live), out)
	}
	for _, n := range live {
		if c, ok := rediscmd.Canonical(n); !ok || c != n {
			t.Errorf("live command %q missing from the table", n)
		}
	}
	for _, probe := range []string{"get", "client|list", "config", "acl|setuser", "zunionstore"} {
		if _, ok := rediscmd.Canonical(probe); !ok {
			t.Errorf("Canonical(%q) = false", probe)
		}
	}
	if rediscmd.Len() != len(live) {
		t.Errorf("table has %d names, redis-server lists %d", rediscmd.Len(), len(live))
	}
	for _, c := range []struct {
		name string
		want bool
	}{{"config", true}, {"client", true}, {"xinfo", true}, {"get", false}, {"conf", false}, {"debug", false}} {
		if got := rediscmd.IsContainer(c.name); got != c.want {
			t.Errorf("IsContainer(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// Directives in, meaning of names out: the cases of redis.conf's rename-command.
func TestParseRenames(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]rediscmd.Rename // names whose meaning changed; others keep theirs
		same []string                   // names that must keep their ordinary meaning
	}{
		{in: "", same: []string{"config", "get"}},
		{in: "CONFIG CFG", want: map[string]rediscmd.Rename{
			"cfg": {Original: "config"}, "config": {Original: "config", Removed: true}}, same: []string{"get"}},
		{in: `flushall ""`, want: map[string]rediscmd.Rename{"flushall": {Original: "flushall", Removed: true}}},
		{in: `FLUSHALL ''`, want: map[string]rediscmd.Rename{"flushall": {Original: "flushall", Removed: true}}},
		// Several directives, commas or newlines, spaces around them.
		{in: "config cfg , flushdb \"\"\nkeys K_b840fc02", want: map[string]rediscmd.Rename{
			"cfg": {Original: "config"}, "config": {Original: "config", Removed: true},
			"flushdb":    {Original: "flushdb", Removed: true},
			"k_b840fc02": {Original: "keys"}, "keys": {Original: "keys", Removed: true}}},
		// Applied in order: a freed name can be taken, a new name can be renamed again.
		{in: "get x, set get", want: map[string]rediscmd.Rename{
			"x": {Original: "get"}, "get": {Original: "set"}, "set": {Original: "set", Removed: true}}},
		{in: "config a, a b", want: map[string]rediscmd.Rename{
			"b": {Original: "config"}, "config": {Original: "config", Removed: true}}, same: []string{"a"}},
		{in: "config a, a \"\"", want: map[string]rediscmd.Rename{"config": {Original: "config", Removed: true}}},
	}
	for _, c := range cases {
		r, err := rediscmd.ParseRenames(c.in)
		if err != nil {
			t.Errorf("ParseRenames(%q): %v", c.in, err)
			continue
		}
		for name, want := range c.want {
			if got, ok := r.Lookup(name); !ok || got != want {
				t.Errorf("ParseRenames(%q).Lookup(%q) = %+v, %v; want %+v", c.in, name, got, ok, want)
			}
		}
		for _, name := range c.same {
			if got, ok := r.Lookup(name); ok {
				t.Errorf("ParseRenames(%q).Lookup(%q) = %+v, want unchanged", c.in, name, got)
			}
		}
		if r.Empty() != (len(c.want) == 0) {
			t.Errorf("ParseRenames(%q).Empty() = %v", c.in, r.Empty())
		}
	}
}

func TestParseRenamesErrors(t *testing.T) {
	cases := []struct {
		in   string
		want []error
	}{
		{"nosuch x", []error{rediscmd.ErrNoSuchCommand}},
		{"config|get x", []error{rediscmd.ErrNoSuchCommand}}, // subcommands cannot be renamed
		{"config get", []error{rediscmd.ErrTargetExists}},
		{"config config", []error{rediscmd.ErrTargetExists}},
		{"get x, get y", []error{rediscmd.ErrNoSuchCommand}}, // GET no longer exists
		{"config", []error{rediscmd.ErrRenameSyntax}},
		{"config a b", []error{rediscmd.ErrRenameSyntax}},
		{"config a|b", []error{rediscmd.ErrRenameName}},
		{`config "x"`, []error{rediscmd.ErrRenameName}},
		{"config " + strings.Repeat("x", 65), []error{rediscmd.ErrRenameName}},
		// Every bad directive is reported at once.
		{"nosuch x, config get, flushall", []error{rediscmd.ErrNoSuchCommand, rediscmd.ErrTargetExists, rediscmd.ErrRenameSyntax}},
	}
	for _, c := range cases {
		_, err := rediscmd.ParseRenames(c.in)
		if err == nil {
			t.Errorf("ParseRenames(%q) = nil error, want %v", c.in, c.want)
			continue
		}
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("ParseRenames(%q) = %v, want it to wrap %v", c.in, err, w)
			}
		}
		if bad := strings.SplitN(c.in, ",", 2)[0]; !strings.Contains(err.Error(), strconv.Quote(bad)) && !strings.Contains(c.in, ",") {
			t.Errorf("ParseRenames(%q) = %v: the error does not name the directive", c.in, err)
		}
	}
}

// The same directives given to a live redis-server are accepted or refused as ParseRenames does.
func TestParseRenamesAgreesWithRedis(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--rename-command", "config", "cfg"}, true},
		{[]string{"--rename-command", "get", "x", "--rename-command", "set", "get"}, true},
		{[]string{"--rename-command", "config", "get"}, false},
		{[]string{"--rename-command", "nosuch", "x"}, false},
		{[]string{"--rename-command", "get", "x", "--rename-command", "get", "y"}, false},
	} {
		var directives []string
		for i := 0; i+2 < len(c.args); i += 3 {
			directives = append(directives, c.args[i+1]+" "+c.args[i+2])
		}
		_, err := rediscmd.ParseRenames(strings.Join(directives, ","))
		if (err == nil) != c.ok {
			t.Errorf("ParseRenames(%q) error = %v, want ok=%v", directives, err, c.ok)
		}
		if refused := redisRefuses(t, c.args); refused == c.ok {
			t.Errorf("redis-server with %q: refused=%v, want ok=%v", c.args, refused, c.ok)
		}
	}
}

// redisRefuses starts redis-server with args (no TCP port) and reports whether it refuses its
// configuration; it stops the server as soon as it says either way.
func redisRefuses(t *testing.T, args []string) bool {
	t.Helper()
	dir, err := os.MkdirTemp("", "rc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-server", append([]string{"--port", "0", "--unixsocket", filepath.Join(dir, "s"), "--save", "", "--appendonly", "no", "--dir", dir}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // the FATAL report goes to stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", redistest.NotFound, err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.Contains(line, "FATAL CONFIG FILE ERROR"):
			return true
		case strings.Contains(line, "ready to accept connections"), strings.Contains(line, "Ready to accept connections"):
			return false
		}
	}
	t.Fatalf("redis-server with %q said neither ready nor fatal", args)
	return false
}

func TestRenamesDenied(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{`FLUSHALL ""`, []string{"flushall"}},
		{`FLUSHALL "",FLUSHDB "",CONFIG CFG`, []string{"config", "flushall", "flushdb"}},
		// GET's name now means SET: a script's redis.call('get') would run the backend's GET, which the
		// client reaches as FOO, and SET is gone under its own name.
		{`GET foo,SET get`, []string{"get", "set"}},
		{`CONFIG a,a b`, []string{"config"}},
	} {
		r, err := rediscmd.ParseRenames(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := r.Denied(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: Denied() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Names lists every name Canonical knows, sorted, in a slice of the caller's own.
func TestNamesAreTheTable(t *testing.T) {
	names := rediscmd.Names()
	if len(names) != rediscmd.Len() || !slices.IsSorted(names) {
		t.Fatalf("Names: %d names, sorted %v; want %d sorted", len(names), slices.IsSorted(names), rediscmd.Len())
	}
	for _, n := range names {
		if c, ok := rediscmd.Canonical(n); !ok || c != n {
			t.Errorf("Canonical(%q) = %q, %v", n, c, ok)
		}
	}
	names[0] = "changed"
	if again := rediscmd.Names(); again[0] == "changed" {
		t.Error("Names returned the table itself")
	}
}

// A CONFIG SET of a guarded parameter is the same value as CONFIG GET's exactly when Redis 7.0.15 would
// leave the parameter as it is: yes/no and enumerations in any case, the octal permission by value,
// integers, bind's list and strings byte for byte.
func TestSameConfigValue(t *testing.T) {
	for _, c := range []struct {
		name, value, current string
		same                 bool
	}{
		{"protected-mode", "YES", "yes", true},
		{"protected-mode", "no", "yes", false},
		{"protected-mode", "1", "yes", false},
		{"tls-auth-clients", "Optional", "optional", true},
		{"tls-replication", "No", "no", true},
		{"port", "6379", "6379", true},
		{"port", "06379", "6379", false},
		{"port", "+6379", "6379", false},
		{"port", "6380", "6379", false},
		{"bind", "127.0.0.1 -::1", "127.0.0.1 -::1", true},
		{"bind", "-::1 127.0.0.1", "127.0.0.1 -::1", false},
		{"bind", "127.0.0.1  -::1", "127.0.0.1 -::1", false},
		{"bind", "", "", true},
		{"unixsocketperm", "0700", "700", true},
		{"unixsocketperm", " +700", "700", true},
		{"unixsocketperm", "", "0", true},
		{"unixsocketperm", "770", "700", false},
		{"unixsocketperm", "0x1c0", "700", false},
		{"unixsocketperm", "+", "0", false},
		{"dir", "/tmp/x", "/tmp/x", true},
		{"dir", "/tmp/x/", "/tmp/x", false},
		{"masteruser", "Alice", "alice", false},
		{"masterauth", "", "", true},
	} {
		if got := rediscmd.SameConfigValue(c.name, []byte(c.value), []byte(c.current)); got != c.same {
			t.Errorf("SameConfigValue(%q, %q, %q) = %v, want %v", c.name, c.value, c.current, got, c.same)
		}
	}
	for name, want := range map[string][2]bool{"aclfile": {true, false}, "unixsocketperm": {true, false},
		"dir": {false, true}, "dbfilename": {false, true}, "bind": {false, false}, "tls-port": {false, false}} {
		if got := [2]bool{rediscmd.GuardedImmutable(name), rediscmd.GuardedProtected(name)}; got != want {
			t.Errorf("%s: immutable, protected = %v, want %v", name, got, want)
		}
		if !rediscmd.GuardedConfig(name) {
			t.Errorf("%s is not guarded", name)
		}
	}
}
