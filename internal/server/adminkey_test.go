package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// startCaptured starts moat on dir with its process log and its banner captured, and closes it again.
func startCaptured(t *testing.T, dir string) (log, banner string) {
	t.Helper()
	var l, b redistest.Buffer
	s, err := Start(Options{DataDir: dir, Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(&l, &slog.HandlerOptions{Level: slog.LevelDebug})), Banner: &b})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.AdminKeyPath(), filepath.Join(dir, AdminKeyFile); got != want {
		t.Errorf("AdminKeyPath %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return l.String(), b.String()
}

// readProfile reads the administrator key file: its mode, its raw bytes and its fields.
func readProfile(t *testing.T, path string) (os.FileMode, []byte, map[string]any) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the administrator key file: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", path, err, raw)
	}
	return fi.Mode(), raw, fields
}

// On first start moat writes the administrator key to <data-dir>/admin-key.json, readable by its owner
// only, as a profile the CLI takes; the banner and the log name the file and never hold the secret.
// A second start reuses the key: the file and the stored keys are unchanged.
func TestAdminKeyFileOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AdminKeyFile)
	log, banner := startCaptured(t, dir)

	mode, raw, fields := readProfile(t, path)
	if !mode.IsRegular() || mode.Perm() != 0o600 {
		t.Errorf("%s has mode %v, want -rw------- (0600)", path, mode)
	}
	id, _ := fields["AccessKeyId"].(string)
	secret, _ := fields["AccessKeySecret"].(string)
	if !strings.HasPrefix(id, "MOAT") || len(secret) < 20 {
		t.Fatalf("the key file lacks AccessKeyId/AccessKeySecret: %s", raw)
	}
	if ep, _ := fields["Endpoint"].(string); !strings.HasPrefix(ep, "http://127.0.0.1:") {
		t.Errorf("the key file's Endpoint %q is not the API listener", ep)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Errorf("the temporary %s.tmp is left behind", path)
	}

	if !strings.Contains(log, path) || !strings.Contains(log, id) {
		t.Errorf("the log does not name the key file %s and key %s:\n%s", path, id, log)
	}
	if !strings.Contains(banner, path) {
		t.Errorf("the start-up banner does not name the key file %s:\n%s", path, banner)
	}
	for what, text := range map[string]string{"log": log, "banner": banner} {
		if strings.Contains(text, secret) {
			t.Errorf("the %s holds the administrator secret", what)
		}
	}

	// A second start on the same data directory: the same key, the same file, no new key.
	log2, banner2 := startCaptured(t, dir)
	mode2, raw2, _ := readProfile(t, path)
	if !bytes.Equal(raw2, raw) || mode2 != mode {
		t.Fatalf("the second start rewrote the key file:\nwas %s (%v)\nnow %s (%v)", raw, mode, raw2, mode2)
	}
	if strings.Contains(log2, "administrator access key created") {
		t.Errorf("the second start created another administrator key:\n%s", log2)
	}
	for what, text := range map[string]string{"log": log2, "banner": banner2} {
		if strings.Contains(text, secret) {
			t.Errorf("the second start's %s holds the administrator secret", what)
		}
	}
	s := start(t, Options{DataDir: dir, Listen: "127.0.0.1:0"})
	defer s.Close()
	keys, err := s.Plane().Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != id || !keys[0].IsAdmin() {
		t.Fatalf("after restarts the stored keys are %+v, want only the administrator %s", keys, id)
	}
	k, err := s.Plane().Key(id)
	if err != nil || k.Secret != secret {
		t.Fatalf("the stored administrator key does not match the file's secret: %v", err)
	}
}
