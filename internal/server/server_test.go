package server

import (
	"bytes"
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/console"
	"github.com/moat-dev/moat/internal/redistest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t testing.TB, opts Options) *Server {
	t.Helper()
	opts.Log = quiet()
	if opts.Banner == nil {
		opts.Banner = io.Discard
	}
	if opts.APIListen == "" {
		opts.APIListen = "127.0.0.1:0"
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends one inline command from source address src on a new connection and returns the reply's first
// line (a bulk reply's payload).
func do(t *testing.T, addr, src, cmd string) string {
	t.Helper()
	c := redistest.DialFrom(t, addr, src)
	defer c.Close()
	return c.Do(cmd)
}

func writeConfig(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string { return redistest.FreeAddr(t) }

// The walkthrough of the README: a new instance refuses everyone, the operator whitelists an address,
// that client writes a value, and the value survives a restart — on the default engine (a managed
// redis-server, installed where the tests run) and on the in-process engine, named explicitly.
func TestEmbeddedDataAndWhitelistSurviveRestart(t *testing.T) {
	for _, be := range []string{"", "embedded"} {
		t.Run("backend="+cmp.Or(be, "default"), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "moat.yaml")
			listen := freeAddr(t)
			decl := "instances:\n  - id: r-walk\n    listen: [" + listen + "]\n"
			if be != "" {
				decl += "    backend: " + be + "\n"
			}
			writeConfig(t, cfg, decl)
			s := start(t, Options{ConfigPath: cfg, DataDir: dir})
			if got := do(t, listen, "127.0.0.1", "PING"); got != "-ERR illegal address" {
				t.Fatalf("new instance answered %q", got)
			}
			writeConfig(t, cfg, decl+"    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
			if err := s.Reload(); err != nil {
				t.Fatal(err)
			}
			if got := do(t, listen, "127.0.0.5", "SET k survived"); got != "+OK" {
				t.Fatalf("SET after whitelisting: %q", got)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = start(t, Options{ConfigPath: cfg, DataDir: dir})
			defer s.Close()
			if got := do(t, listen, "127.0.0.5", "GET k"); got != "survived" {
				t.Fatalf("GET after restart: %q", got)
			}
		})
	}
}

// A bad reload keeps the old configuration serving.
func TestBadReloadKeepsServing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "moat.yaml")
	listen := freeAddr(t)
	good := "instances:\n  - id: r-keep\n    listen: [" + listen + "]\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n"
	writeConfig(t, cfg, good)
	s := start(t, Options{ConfigPath: cfg, DataDir: dir})
	defer s.Close()
	writeConfig(t, cfg, strings.Replace(good, "127.0.0.0/8", "127.0.0.5/8", 1))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "127.0.0.0/8") {
		t.Fatalf("bad reload: %v", err)
	}
	if got := do(t, listen, "127.0.0.9", "PING"); got != "+PONG" && got != "PONG" {
		t.Fatalf("after a bad reload: %q", got)
	}
}

// Without a config file moat serves one instance whose ID stays the same across restarts, and tells
// the operator at start how to let a client in.
func TestDefaultInstanceAndBanner(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	var banner bytes.Buffer
	s, err := Start(Options{DataDir: dir, Listen: listen, APIListen: "127.0.0.1:0", Log: quiet(), Banner: &banner})
	if err != nil {
		t.Fatal(err)
	}
	insts, _ := s.Plane().Instances()
	if len(insts) != 1 {
		t.Fatalf("%d instances", len(insts))
	}
	id := insts[0].ID
	for _, want := range []string{id, listen, "refuses every address", "illegal address",
		"moat whitelist modify --profile " + filepath.Join(dir, "admin-key.json") + " --instance " + id + " --group local --ips 127.0.0.0/8"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	resp, err := http.Get("http://" + s.APIAddr().String() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	_, body := getStatus(t, "http://"+s.APIAddr().String()+"/metrics", s.StatusToken())
	if !strings.Contains(string(body), `moat_connections_accepted_total{instance="`+id+`"}`) {
		t.Fatalf("metrics lack the instance:\n%s", body)
	}
	s.Close()
	s, err = Start(Options{DataDir: dir, Listen: listen, APIListen: "127.0.0.1:0", Log: quiet(), Banner: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insts, _ = s.Plane().Instances()
	if len(insts) != 1 || insts[0].ID != id {
		t.Fatalf("restart created a new instance: %+v", insts)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Start(Options{DataDir: dir, Listen: busy.Addr().String(), APIListen: "127.0.0.1:0", Log: quiet(), Banner: io.Discard})
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) || !strings.Contains(err.Error(), "instance r-") {
		t.Fatalf("busy listen address: %v", err)
	}
	s := start(t, Options{DataDir: dir, Listen: freeAddr(t), Banner: io.Discard})
	defer s.Close()
	_, err = Start(Options{DataDir: dir, Listen: freeAddr(t), APIListen: "127.0.0.1:0", Log: quiet(), Banner: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "another moat") {
		t.Fatalf("second moat on one data dir: %v", err)
	}
	_, err = Start(Options{ConfigPath: filepath.Join(dir, "x.yaml"), Listen: "127.0.0.1:1", Log: quiet()})
	if err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Fatalf("--listen with --config: %v", err)
	}
}

// A start that fails on a busy address — the instance's, the API's or the metrics listener's — writes
// no credential file (administrator key, status token, console password), so the next start, on free
// addresses, creates them all and the administrator key file works.
func TestBusyPortWritesNoCredentials(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	credentials := []string{AdminKeyFile, StatusTokenFile, console.PasswordFile}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"--listen", Options{Listen: busy.Addr().String()}},
		{"--api-listen", Options{APIListen: busy.Addr().String()}},
		{"--metrics-listen", Options{MetricsListen: busy.Addr().String()}},
	} {
		dir := t.TempDir()
		c.opts.DataDir, c.opts.Log, c.opts.Banner = dir, quiet(), io.Discard
		c.opts.Listen = cmp.Or(c.opts.Listen, freeAddr(t))
		c.opts.APIListen = cmp.Or(c.opts.APIListen, "127.0.0.1:0")
		if s, err := Start(c.opts); err == nil {
			s.Close()
			t.Fatalf("%s busy: moat started", c.name)
		} else if !strings.Contains(err.Error(), busy.Addr().String()) {
			t.Errorf("%s busy: %v, want the address named", c.name, err)
		}
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			for _, cred := range credentials {
				if strings.HasPrefix(f.Name(), cred) {
					t.Errorf("%s busy: %s written", c.name, f.Name())
				}
			}
		}

		c.opts.Listen, c.opts.APIListen, c.opts.MetricsListen = freeAddr(t), "127.0.0.1:0", ""
		s := start(t, c.opts)
		for _, cred := range credentials {
			if _, err := os.Stat(filepath.Join(dir, cred)); err != nil {
				t.Errorf("%s busy, then a start on free addresses: %v", c.name, err)
			}
		}
		var p Profile
		b, _ := os.ReadFile(s.AdminKeyPath())
		if err := json.Unmarshal(b, &p); err != nil || p.Endpoint != "http://"+s.APIAddr().String() {
			t.Errorf("%s busy, then started: admin key file %s (%v)", c.name, b, err)
		} else if _, err := s.Plane().Key(p.AccessKeyId); err != nil {
			t.Errorf("%s busy, then started: the admin key file's key: %v", c.name, err)
		}
		s.Close()
	}
}
