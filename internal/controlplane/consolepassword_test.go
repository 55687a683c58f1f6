package controlplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// The console password's hash is stored once, through the plane: durable across a reopen, audited
// without the hash, and a second creation (another gateway's, racing) changes nothing.
func TestConsolePasswordCreatedOnceAndAudited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	if _, err := p.ConsolePassword(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsolePassword before any: %v, want ErrNotFound", err)
	}
	first := []byte(`{"algorithm":"pbkdf2-sha256","hash":"Zmlyc3Q="}`)
	created, err := p.CreateConsolePassword(Actor{KeyID: "config"}, first)
	if err != nil || !created {
		t.Fatalf("CreateConsolePassword: created=%v err=%v", created, err)
	}
	created, err = p.CreateConsolePassword(Actor{KeyID: "config"}, []byte(`{"hash":"c2Vjb25k"}`))
	if err != nil || created {
		t.Fatalf("second CreateConsolePassword: created=%v err=%v, want false and no error", created, err)
	}
	if _, err := p.CreateConsolePassword(Actor{KeyID: "config"}, nil); err == nil {
		t.Error("an empty hash was accepted")
	}
	st.Close()
	p, _ = openPlane(t, path)
	got, err := p.ConsolePassword()
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("after reopen: %q, %v; want the first hash", got, err)
	}
	entries, err := p.AuditLog(AuditFilter{Action: "CreateConsolePassword"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("audit entries of CreateConsolePassword: %d, %v; want exactly 1", len(entries), err)
	}
	b, _ := json.Marshal(entries[0])
	if bytes.Contains(b, []byte("Zmlyc3Q")) || bytes.Contains(b, []byte("c2Vjb25k")) {
		t.Errorf("the audit entry holds the hash: %s", b)
	}
	if entries[0].KeyID != "config" || entries[0].Result != ResultOK {
		t.Errorf("audit entry %+v, want key config, result ok", entries[0])
	}
}
