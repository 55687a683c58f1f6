package controlplane

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/redact"
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
	// ResultUndone marks the record of a change taken back because the data plane could not apply it
	// (a created instance it could not start, create.go); its Error says why.
	ResultUndone = "undone"
)

// AuditEntry is the record of one change (API2): who, from where, when, what, and the state before and
// after. It is kept for the retention (AuditPolicy), whatever other calls are made. It never holds a
// secret (auditredact.go): backend URLs, password hashes and access key secrets are masked.
type AuditEntry struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	KeyID    string          `json:"key_id"`
	Source   string          `json:"source,omitempty"`
	Gateway  string          `json:"gateway,omitempty"` // the gateway that took the change (Plane.Gateway)
	Action   string          `json:"action"`
	Instance string          `json:"instance,omitempty"`
	Resource string          `json:"resource,omitempty"` // the host or security group a change concerns
	Result   string          `json:"result"`
	Error    string          `json:"error,omitempty"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
}

// FailedCall is the record of the failed or denied calls one access key made of one action on one instance
// with one result (API2): the repeats are counted, not stored one by one, and the newest error and source
// are kept. A flood of such calls updates one record; records of changes never make room for them.
type FailedCall struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"` // when it was last seen
	FirstSeen time.Time `json:"first_seen"`
	Count     uint64    `json:"count"`
	KeyID     string    `json:"key_id"`
	Source    string    `json:"source,omitempty"`  // of the last call
	Gateway   string    `json:"gateway,omitempty"` // that took the last call
	Action    string    `json:"action"`
	Instance  string    `json:"instance,omitempty"`
	Result    string    `json:"result"`
	Error     string    `json:"error,omitempty"` // of the last call
}

// AuditPolicy says how much of the audit trail is kept. It holds for every instance.
type AuditPolicy struct {
	// Retention is how long records of changes and of failed calls are kept; expired ones are pruned a
	// bounded number at a time as new ones are written. 0 means DefaultAuditRetention.
	Retention time.Duration
	// FailedCalls bounds the failed-call records (FailedCall): a new one beyond it removes the one seen
	// least recently. 0 means DefaultFailedCalls.
	FailedCalls int
	// MaxChanges bounds the records of changes: a new one beyond it removes the oldest. 0: no bound but
	// the retention (a shared store with a space quota, such as etcd, sets one: server.DefaultFleetChanges).
	MaxChanges int
}

// Defaults of AuditPolicy.
const (
	DefaultAuditRetention = 90 * 24 * time.Hour
	DefaultFailedCalls    = 10_000
)

// Key prefixes of the two logs, and of the log kept before they were split (UpgradeAudit).
const (
	changesPrefix  = "auditlog/"
	failuresPrefix = "auditfail/"
	legacyPrefix   = "audit/"
	legacyEnd      = "audit0" // the first key after legacyPrefix's
	legacySeqKey   = "meta/audit-seq"
	// upgradeBatch is how many old records one transaction of UpgradeAudit moves: bbolt splits the nodes a
	// transaction writes only when it commits, so a transaction's cost grows faster than its size.
	upgradeBatch = 1000
)

// Bounds of what a failed-call record keeps of the call's error text, and of the action and instance it
// names (a denied call may name any instance, of any length).
const (
	maxErrorText  = 2048
	maxFailedName = 128
)

// clip returns s cut to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func (p *Plane) changeLog() store.AuditLog {
	return store.AuditLog{Prefix: changesPrefix, Retention: cmp.Or(p.Audit.Retention, DefaultAuditRetention),
		MaxRecords: p.Audit.MaxChanges}
}

func (p *Plane) failureLog() store.AuditLog {
	return store.AuditLog{Prefix: failuresPrefix, Retention: cmp.Or(p.Audit.Retention, DefaultAuditRetention),
		MaxRecords: cmp.Or(p.Audit.FailedCalls, DefaultFailedCalls)}
}

// appendAudit adds the record of a change to the log inside tx, assigning its sequence number: it is durable
// exactly when the change is.
func (p *Plane) appendAudit(tx store.Tx, e AuditEntry) error {
	f := store.AuditFields{Time: e.Time, Key: e.KeyID, Action: e.Action, Instance: e.Instance}
	e.Gateway = cmp.Or(e.Gateway, p.Gateway)
	return p.changeLog().Append(tx, f, func(seq uint64) ([]byte, error) {
		e.Seq = seq
		redactEntry(&e) // auditredact.go
		return json.Marshal(e)
	})
}

// RecordChange durably records a change made outside the Plane's own methods (such as `moat store copy`,
// which writes a whole state), in a transaction of its own. after describes the change; it must hold no
// secret.
func (p *Plane) RecordChange(a Actor, action, resource string, after json.RawMessage) error {
	return p.store.Update(func(tx store.Tx) error {
		return p.appendAudit(tx, AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: action,
			Resource: resource, Result: ResultOK, After: after})
	})
}

// RecordFailure durably records a call that failed or was denied, counting it into the record of the same
// key, action, instance and result if one is kept.
func (p *Plane) RecordFailure(a Actor, action, instance, result string, cause error) error {
	now := p.now()
	msg := ""
	if cause != nil {
		if msg = cause.Error(); len(msg) > maxErrorText {
			msg = clip(msg, maxErrorText) + "…"
		}
	}
	return p.store.Update(func(tx store.Tx) error { return p.recordFailure(tx, a, action, instance, result, msg, now) })
}

func (p *Plane) recordFailure(tx store.Tx, a Actor, action, instance, result, msg string, at time.Time) error {
	action, instance = clip(action, maxFailedName), clip(instance, maxFailedName)
	id := fmt.Sprintf("%q %q %q %q", a.KeyID, action, instance, result)
	f := store.AuditFields{Time: at, Key: a.KeyID, Action: action, Instance: instance}
	return p.failureLog().Merge(tx, id, f, func(seq uint64, prev []byte) ([]byte, error) {
		fc := FailedCall{FirstSeen: at}
		if prev != nil {
			if err := json.Unmarshal(prev, &fc); err != nil {
				return nil, fmt.Errorf("stored failed call %q: %w", id, err)
			}
		}
		fc.Seq, fc.Time, fc.Count = seq, at, fc.Count+1
		fc.KeyID, fc.Source, fc.Action, fc.Instance, fc.Result = a.KeyID, a.Source, action, instance, result
		fc.Gateway = p.Gateway
		fc.Error = redact.Secret(redact.KindText, msg)
		return json.Marshal(fc)
	})
}

// AuditFilter selects audit records; zero fields match everything.
type AuditFilter struct {
	Instance string
	Action   string // without regard to case
	KeyID    string
	// Since and Until bound the records' times: Since included, Until not.
	Since, Until time.Time
	// Before is the Next of a previous page: only older records match.
	Before string
	Limit  int // newest first; 0 means 100
}

// ErrBadPageToken is returned for an AuditFilter.Before that no page returned.
var ErrBadPageToken = store.ErrBadCursor

// AuditLog returns the matching records of changes, newest first.
func (p *Plane) AuditLog(f AuditFilter) ([]AuditEntry, error) {
	out, _, err := p.AuditPage(f)
	return out, err
}

// AuditPage returns the matching records of changes, newest first, and the token of the next page (Before)
// if older records may match. It reads only what it returns, however long the log.
func (p *Plane) AuditPage(f AuditFilter) ([]AuditEntry, string, error) {
	return auditQuery[AuditEntry](p, p.changeLog(), f)
}

// FailedCalls returns the matching failed-call records, most recently seen first (Since and Until bound
// when they were last seen), and the token of the next page.
func (p *Plane) FailedCalls(f AuditFilter) ([]FailedCall, string, error) {
	return auditQuery[FailedCall](p, p.failureLog(), f)
}

func auditQuery[T any](p *Plane, l store.AuditLog, f AuditFilter) (out []T, next string, err error) {
	q := store.AuditQuery{Key: f.KeyID, Action: f.Action, Instance: f.Instance, Since: f.Since, Until: f.Until, Before: f.Before, Limit: f.Limit}
	err = p.store.View(func(tx store.Tx) error {
		recs, more, err := l.Query(tx, q)
		if err != nil {
			return err
		}
		out = make([]T, 0, len(recs))
		for _, r := range recs {
			var e T
			if err := json.Unmarshal(r.Value, &e); err != nil {
				return fmt.Errorf("stored audit record %d: %w", r.Seq, err)
			}
			redactRecord(&e) // records written before redaction existed
			out = append(out, e)
		}
		if more && len(recs) > 0 {
			next = recs[len(recs)-1].Cursor
		}
		return nil
	})
	return out, next, err
}

// UpgradeAudit moves the records of the single log moat kept before change records and failed calls were
// split into the two logs: records of changes keep their times, failed and denied calls are counted into
// failed-call records, and records older than the retention are dropped on the way. It works in
// transactions of upgradeBatch records, each moving and deleting its records together, so an upgrade cut
// short resumes where it stopped; a store that refuses a transaction that big (store.ErrTooLarge: etcd
// allows 128 operations) gets smaller ones. A store without the old log is left as it is.
func (p *Plane) UpgradeAudit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := upgradeBatch
	for done := false; !done; {
		err := p.store.Update(func(tx store.Tx) error {
			kvs, err := tx.Range(legacyPrefix, legacyEnd, false, batch)
			if err != nil {
				return err
			}
			if done = len(kvs) < batch; done {
				if err := tx.Delete(legacySeqKey); err != nil {
					return err
				}
			}
			for _, kv := range kvs {
				var e AuditEntry
				if err := json.Unmarshal(kv.Value, &e); err != nil {
					return fmt.Errorf("stored %s: %w", kv.Key, err)
				}
				if e.Result == ResultOK {
					err = p.appendAudit(tx, e)
				} else {
					err = p.recordFailure(tx, Actor{e.KeyID, e.Source}, e.Action, e.Instance, e.Result, e.Error, e.Time)
				}
				if err != nil {
					return err
				}
				if err := tx.Delete(kv.Key); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, store.ErrTooLarge) && batch > 1 {
			batch, done = max(1, batch/8), false
			continue
		}
		if err != nil {
			return fmt.Errorf("upgrade the audit log: %w", err)
		}
	}
	return nil
}
