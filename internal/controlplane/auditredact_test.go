package controlplane

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/redact"
)

func TestRedactState(t *testing.T) {
	hash := acl.HashPassword([]byte("pw"))
	tests := []struct{ in, want string }{
		{`{"id":"r-a","backend":"redis://app:Sup3r@h:1","listen":["x"]}`, `{"id":"r-a","backend":"redis://app:xxxxx@h:1","listen":["x"]}`},
		{`{"acl":["user a on #` + hash + ` ~* +@all","user default on nopass ~* &* +@all"],"z":1}`,
			`{"acl":["user a on #xxxxx ~* +@all","user default on nopass ~* \u0026* +@all"],"z":1}`},
		{`{"params":{"requirepass":"pw","timeout":"3"}}`, `{"params":{"requirepass":"xxxxx","timeout":"3"}}`},
		{`{"id":"MOATX","secret":"abc","actions":["*"]}`, `{"id":"MOATX","secret":"xxxxx","actions":["*"]}`},
		// Field order, numbers, nesting and non-secret fields that look like secrets are kept.
		{`{"b":1.50,"a":[{"backend":"unix:///s?password=pw"},{"name":"backend"}],"n":null,"t":true}`,
			`{"b":1.50,"a":[{"backend":"unix:///s?password=xxxxx"},{"name":"backend"}],"n":null,"t":true}`},
		{`{"description":"redis://a:b@h is in a description"}`, `{"description":"redis://a:b@h is in a description"}`},
		{`[]`, `[]`},
		{`{}`, `{}`},
	}
	for _, tt := range tests {
		if got := string(redactState(json.RawMessage(tt.in))); got != tt.want {
			t.Errorf("redactState(%s)\n = %s\nwant %s", tt.in, got, tt.want)
		}
	}
	// A state that is not JSON cannot be judged: it is dropped, not passed on.
	for _, bad := range []string{`{"backend":"redis://a:b@h"`, `{"backend":}`, `not json`} {
		if got := redactState(json.RawMessage(bad)); got != nil {
			t.Errorf("redactState(%s) = %s, want nil", bad, got)
		}
	}
}

// Entries written before redaction existed (straight into the store here) are redacted when read.
func TestAuditLogRedactsOldEntries(t *testing.T) {
	p, st := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	hash := acl.HashPassword([]byte("OldPw_1"))
	old := AuditEntry{Seq: 1, Time: time.Now(), KeyID: "k", Action: "PutInstance", Result: ResultOK,
		Error:  "backend redis://app:OldSecret@h:1: refused",
		Before: json.RawMessage(`{"backend":"redis://app:OldSecret@h:1"}`),
		After:  json.RawMessage(`{"backend":"redis://app:OldSecret@h:1","acl":["user a on #` + hash + ` ~*"]}`)}
	b, _ := json.Marshal(old)
	if err := st.Update(func(tx store.Tx) error {
		f := store.AuditFields{Time: old.Time, Key: old.KeyID, Action: old.Action}
		return p.changeLog().Append(tx, f, func(uint64) ([]byte, error) { return b, nil }) // as stored unredacted
	}); err != nil {
		t.Fatal(err)
	}
	entries, err := p.AuditLog(AuditFilter{})
	if err != nil || len(entries) != 1 {
		t.Fatalf("AuditLog: %v %v", entries, err)
	}
	got, _ := json.Marshal(entries[0])
	if strings.Contains(string(got), "OldSecret") || strings.Contains(string(got), hash) || !strings.Contains(string(got), "redis://app:xxxxx@h:1") {
		t.Fatalf("old entry as read: %s", got)
	}
}

// FuzzRedactState compares the order-keeping token rewriter with an obviously correct oracle that
// decodes the state, redacts the decoded value and compares the decoded results: for valid JSON they
// agree; for anything else the rewriter gives nil or valid JSON.
func FuzzRedactState(f *testing.F) {
	f.Add(`{"backend":"redis://a:b@h","acl":["user x on #ab ~*"],"params":{"requirepass":"p"},"n":[1,{"secret":"s"}]}`)
	f.Add(`[{"acl":"user y on >pw"}, "backend", {"x": {"backend": ["redis://:p@h"]}}]`)
	f.Add(`"plain"`)
	f.Fuzz(func(t *testing.T, s string) {
		got := redactState(json.RawMessage(s))
		var in any
		if json.Unmarshal([]byte(s), &in) != nil {
			if len(got) != 0 && !json.Valid(got) { // empty: no state
				t.Fatalf("redactState(%q) = %q: not JSON", s, got)
			}
			return
		}
		var out, want any
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatalf("redactState(%q) = %q: %v", s, got, err)
		}
		wantB, _ := json.Marshal(oracleRedact(in, -1))
		json.Unmarshal(wantB, &want)
		a, _ := json.Marshal(out)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Fatalf("redactState(%q)\n = %s\nwant %s", s, a, b)
		}
	})
}

// oracleRedact redacts a decoded JSON value v found under a field of kind k (-1: none).
func oracleRedact(v any, k redact.Kind) any {
	switch t := v.(type) {
	case map[string]any:
		for name, x := range t {
			t[name] = oracleRedact(x, keyKind(name))
		}
	case []any:
		for i, x := range t {
			t[i] = oracleRedact(x, k)
		}
	case string:
		if k >= 0 {
			return redact.Secret(k, t)
		}
	}
	return v
}
