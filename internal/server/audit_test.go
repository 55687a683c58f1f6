package server

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
)

// The audit settings come from the flags, else the config file, else moat's defaults; a negative one stops
// moat with an error naming it.
func TestAuditSettings(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfgPath, "audit_retention_days: 30\naudit_failed_calls: 70\ninstances:\n  - id: r-aud\n    listen: ["+freeAddr(t)+"]\n")
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir, AuditFailedCalls: 7})
	if got, want := s.Plane().Audit, (controlplane.AuditPolicy{Retention: 30 * 24 * time.Hour, FailedCalls: 7}); got != want {
		t.Fatalf("flag and config file: %+v, want %+v", got, want)
	}
	s.Close()

	_, err := Start(Options{DataDir: t.TempDir(), Listen: freeAddr(t), APIListen: "127.0.0.1:0", AuditRetentionDays: -2, Log: quiet(), Banner: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "-2 days") {
		t.Fatalf("a negative retention: %v", err)
	}
}
