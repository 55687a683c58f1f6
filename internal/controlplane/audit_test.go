package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// changeSummary lists the change records, newest first, as "action instance by key".
func changeSummary(t *testing.T, p *Plane) []string {
	t.Helper()
	var out []string
	f := AuditFilter{Limit: 1000}
	for {
		page, next, err := p.AuditPage(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			out = append(out, fmt.Sprintf("%s %s by %s", e.Action, e.Instance, e.KeyID))
		}
		if next == "" {
			return out
		}
		f.Before = next
	}
}

// A read-only key's flood of denied calls — repeats, and calls naming ever new instances so that the
// records outnumber their bound many times over — leaves every record of a change in place, and the
// failed-call records within their bound, the repeats counted.
func TestDeniedFloodKeepsEveryChange(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	p.Audit.FailedCalls = 20
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	reader, err := p.CreateKey(admin, "reader", []string{"Describe*"}, []string{"r-test"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c := allowlist.Change{Group: "app", Mode: allowlist.Append, Entries: fmt.Sprintf("10.0.%d.0/24", i)}
		if _, err := p.ModifySecurityIps(admin, "r-test", c); err != nil {
			t.Fatal(err)
		}
	}
	changes := changeSummary(t, p)
	if len(changes) != 12 {
		t.Fatalf("setup: %d change records, want 12: %q", len(changes), changes)
	}

	attacker := Actor{KeyID: reader.ID, Source: "127.0.0.7"}
	const distinct, repeats = 400, 200
	for i := range distinct {
		if err := p.RecordFailure(attacker, "ModifySecurityIps", fmt.Sprintf("r-x%04d", i), ResultDenied, errors.New("Forbidden.RAM")); err != nil {
			t.Fatal(err)
		}
	}
	for range repeats {
		if err := p.RecordFailure(attacker, "ModifySecurityIps", "r-test", ResultDenied, errors.New("Forbidden.RAM")); err != nil {
			t.Fatal(err)
		}
	}
	if got := changeSummary(t, p); strings.Join(got, "\n") != strings.Join(changes, "\n") {
		t.Fatalf("after %d denied calls the change records are\n%q\nwant\n%q", distinct+repeats, got, changes)
	}
	failed, _, err := p.FailedCalls(AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 20 {
		t.Fatalf("%d failed-call records, want the bound, 20", len(failed))
	}
	head := failed[0]
	if head.KeyID != reader.ID || head.Instance != "r-test" || head.Count != repeats || head.Source != "127.0.0.7" ||
		head.Result != ResultDenied || head.FirstSeen.After(head.Time) {
		t.Fatalf("the repeated denial: %+v", head)
	}
	if last := failed[len(failed)-1]; last.Instance != fmt.Sprintf("r-x%04d", distinct-19) {
		t.Fatalf("the oldest record kept: %+v; want the 19 most recent new instances and the repeated one", last)
	}
	// The bound holds in the store, not only in what is read: no index entry or identity outlives its record.
	var recs, keys int
	err = p.store.View(func(tx store.Tx) error {
		kvs, err := tx.List(failuresPrefix)
		keys = len(kvs)
		for _, kv := range kvs {
			if strings.HasPrefix(kv.Key, failuresPrefix+"r/") {
				recs++
			}
		}
		return err
	})
	if err != nil || recs != 20 || keys != 20*(1+7+1)+2 {
		t.Fatalf("the failed-call log holds %d records in %d keys (%v); want 20 in %d", recs, keys, err, 20*9+2)
	}
}

// Records are kept for the retention and pruned after it, changes and failed calls alike, as later
// records are written; what is within the retention stays.
func TestAuditRetention(t *testing.T) {
	p, _ := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p.Now = func() time.Time { return now }
	p.Audit.Retention = 48 * time.Hour
	modify := func(entry string) {
		t.Helper()
		if _, err := p.ModifySecurityIps(admin, "r-test", allowlist.Change{Group: "app", Mode: allowlist.Append, Entries: entry}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	p.RecordFailure(Actor{KeyID: "RO"}, "ModifySecurityIps", "r-test", ResultDenied, nil)
	now = now.Add(24 * time.Hour)
	modify("10.0.0.1")
	p.RecordFailure(Actor{KeyID: "RO"}, "DescribeSecurityIps", "r-nosuch", ResultError, nil)
	now = now.Add(36 * time.Hour) // the first records are 60 h old, the second 36 h
	modify("10.0.0.2")
	p.RecordFailure(Actor{KeyID: "RO"}, "DescribeSecurityIps", "r-other", ResultError, nil)
	got := changeSummary(t, p)
	if want := []string{"ModifySecurityIps r-test by test", "ModifySecurityIps r-test by test"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after the retention: %q, want %q", got, want)
	}
	failed, _, err := p.FailedCalls(AuditFilter{})
	if err != nil || len(failed) != 2 || failed[0].Instance != "r-other" || failed[1].Instance != "r-nosuch" {
		t.Fatalf("failed calls after the retention: %+v %v", failed, err)
	}
	entries, _ := p.AuditLog(AuditFilter{Since: now.Add(-time.Hour)})
	if len(entries) != 1 || !entries[0].Time.Equal(now) {
		t.Fatalf("records of the last hour: %+v", entries)
	}
}

// A store written before the logs were split keeps its records: changes move to the log of changes with
// their times, failed and denied calls are counted into failed-call records, the old keys go — over
// several transactions when there are many.
func TestUpgradeAudit(t *testing.T) {
	p, st := openPlane(t, filepath.Join(t.TempDir(), "state.db"))
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var legacy []AuditEntry
	const bulk = 2*upgradeBatch + 500
	for i := range bulk {
		legacy = append(legacy, AuditEntry{Time: t0.Add(-time.Hour + time.Duration(i)*time.Millisecond), KeyID: "bulk", Action: "ModifySecurityIps", Instance: "r-bulk", Result: ResultOK})
	}
	legacy = append(legacy, []AuditEntry{
		{Time: t0, KeyID: "config", Action: "PutInstance", Instance: "r-test", Result: ResultOK, After: json.RawMessage(`{"id":"r-test"}`)},
		{Time: t0.Add(time.Second), KeyID: "RO", Source: "127.0.0.7", Action: "ModifySecurityIps", Instance: "r-test", Result: ResultDenied, Error: "Forbidden.RAM"},
		{Time: t0.Add(2 * time.Second), KeyID: "RO", Source: "127.0.0.8", Action: "ModifySecurityIps", Instance: "r-test", Result: ResultDenied, Error: "Forbidden.RAM"},
		{Time: t0.Add(3 * time.Second), KeyID: "ADMIN", Action: "CreateAccessKey", Result: ResultOK, After: json.RawMessage(`{"AccessKeyId":"RO"}`)},
	}...)
	err := st.Update(func(tx store.Tx) error {
		for i, e := range legacy {
			e.Seq = uint64(i + 1)
			b, _ := json.Marshal(e)
			if err := tx.Put(fmt.Sprintf("%s%020d", legacyPrefix, e.Seq), b); err != nil {
				return err
			}
		}
		return tx.Put(legacySeqKey, []byte(fmt.Sprint(len(legacy))))
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second upgrade finds nothing to do
		if err := p.UpgradeAudit(); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(changeSummary(t, p)); got != bulk+2 {
		t.Fatalf("%d change records after the upgrade, want %d", got, bulk+2)
	}
	legacy = legacy[bulk:]
	changes, _ := p.AuditLog(AuditFilter{Limit: 2})
	if len(changes) != 2 || changes[0].Action != "CreateAccessKey" || !changes[0].Time.Equal(legacy[3].Time) ||
		changes[1].Action != "PutInstance" || string(changes[1].After) != `{"id":"r-test"}` {
		t.Fatalf("changes after the upgrade: %+v", changes)
	}
	failed, _, _ := p.FailedCalls(AuditFilter{})
	if len(failed) != 1 || failed[0].Count != 2 || !failed[0].FirstSeen.Equal(legacy[1].Time) || !failed[0].Time.Equal(legacy[2].Time) ||
		failed[0].Source != "127.0.0.8" || failed[0].Error != "Forbidden.RAM" {
		t.Fatalf("failed calls after the upgrade: %+v", failed)
	}
	st.View(func(tx store.Tx) error {
		if old, _ := tx.List(legacyPrefix); len(old) != 0 {
			t.Errorf("%d old records left", len(old))
		}
		if _, err := tx.Get(legacySeqKey); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old sequence key left: %v", err)
		}
		return nil
	})
}
