package controlplane

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Actor is who asks for a change: an access key and the address it called from, or moat itself
// ("config" for the config file).
type Actor struct {
	KeyID  string
	Source string
}

// Audit results.
const (
	ResultOK     = "ok"
	ResultError  = "error"
	ResultDenied = "denied"
)

// AuditEntry is one record of the audit log (API2): every successful change with the state before and
// after, and every failed or denied call. It never holds a secret (auditredact.go): backend URLs,
// password hashes and access key secrets are masked.
type AuditEntry struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	KeyID    string          `json:"key_id"`
	Source   string          `json:"source,omitempty"`
	Action   string          `json:"action"`
	Instance string          `json:"instance,omitempty"`
	Resource string          `json:"resource,omitempty"` // the host or security group a change concerns
	Result   string          `json:"result"`
	Error    string          `json:"error,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

const (
	auditPrefix = "audit/"
	auditSeqKey = "meta/audit-seq"
	// auditKeep is how many entries the log keeps; older ones are dropped as new ones arrive.
	auditKeep = 100_000
)

func auditKey(seq uint64) string { return fmt.Sprintf("%s%020d", auditPrefix, seq) }

// appendAudit adds e to the log inside tx, assigning its sequence number, and drops the entry that falls
// out of the kept window.
func appendAudit(tx store.Tx, e AuditEntry) error {
	var seq uint64
	if b, err := tx.Get(auditSeqKey); err == nil {
		seq, _ = strconv.ParseUint(string(b), 10, 64)
	}
	seq++
	e.Seq = seq
	redactEntry(&e) // auditredact.go
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.Put(auditKey(seq), b); err != nil {
		return err
	}
	if seq > auditKeep {
		if err := tx.Delete(auditKey(seq - auditKeep)); err != nil {
			return err
		}
	}
	return tx.Put(auditSeqKey, []byte(strconv.FormatUint(seq, 10)))
}

// RecordFailure durably logs a call that failed or was denied.
func (p *Plane) RecordFailure(a Actor, action, instance, result string, cause error) error {
	e := AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: action, Instance: instance, Result: result}
	if cause != nil {
		e.Error = cause.Error()
	}
	return p.store.Update(func(tx store.Tx) error { return appendAudit(tx, e) })
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Instance string
	Action   string
	Limit    int // newest first; 0 means 100
}

// AuditLog returns matching entries, newest first.
func (p *Plane) AuditLog(f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var out []AuditEntry
	err := p.store.View(func(tx store.Tx) error {
		kvs, err := tx.List(auditPrefix)
		if err != nil {
			return err
		}
		for i := len(kvs) - 1; i >= 0 && len(out) < f.Limit; i-- {
			var e AuditEntry
			if err := json.Unmarshal(kvs[i].Value, &e); err != nil {
				return fmt.Errorf("stored %s: %w", kvs[i].Key, err)
			}
			if (f.Instance == "" || e.Instance == f.Instance) && (f.Action == "" || strings.EqualFold(e.Action, f.Action)) {
				redactEntry(&e) // entries written before redaction existed
				out = append(out, e)
			}
		}
		return nil
	})
	return out, err
}
