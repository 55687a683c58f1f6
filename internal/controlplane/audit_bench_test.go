package controlplane

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// benchAuditRecords is how many change records BenchmarkAuditQuery builds before it measures:
// 1,000,000, or 20,000 with -short (make test's smoke run of every benchmark, where building a million
// takes minutes).
func benchAuditRecords() int {
	if testing.Short() {
		return 20_000
	}
	return 1_000_000
}

// BenchmarkAuditQuery measures DescribeAuditLogs' read at 1,000,000 records of changes over 20 instances, 8
// actions and 5 keys: a query that matches nothing, and typical filtered pages of 100. The records are built
// once, in large transactions, in a temporary directory.
func BenchmarkAuditQuery(b *testing.B) {
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p.Audit.Retention = 10 * 365 * 24 * time.Hour // the records span a year: all are kept
	actions := []string{"ModifySecurityIps", "ModifyInstanceConfig", "CreateAccount", "ModifyAccountAuthority",
		"DeleteSecurityIpGroup", "ACL SETUSER", "ModifySecurityGroupConfiguration", "CreateAccessKey"}
	before, _ := json.Marshal(map[string]any{"id": "r-00", "groups": []map[string]any{{"name": "app", "entries": []string{"10.0.0.0/24", "10.0.1.5/32"}}}})
	after, _ := json.Marshal(map[string]any{"id": "r-00", "groups": []map[string]any{{"name": "app", "entries": []string{"10.0.0.0/24", "10.0.1.6/32"}}}})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// bbolt splits the nodes a transaction writes only when it commits: in one transaction of 50,000
	// records each insert moves every key after it in an ever larger node. 2,000 a transaction is fast.
	const batch = 2_000
	built := time.Now()
	records := benchAuditRecords()
	for done := 0; done < records; done += batch {
		err := st.Update(func(tx store.Tx) error {
			for i := done; i < done+batch; i++ {
				e := AuditEntry{Time: t0.Add(time.Duration(i) * 30 * time.Second), KeyID: fmt.Sprintf("MOATKEY%013d", i%5),
					Source: "10.1.2.3", Action: actions[i%len(actions)], Instance: fmt.Sprintf("r-%02d", i%20),
					Result: ResultOK, Before: before, After: after}
				if err := p.appendAudit(tx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var n int
	if err := st.View(func(tx store.Tx) (err error) { n, err = p.changeLog().Len(tx); return err }); err != nil || n != records {
		b.Fatalf("built %d records (%v), want %d", n, err, records)
	}
	b.Logf("built %d records in %v", n, time.Since(built))
	last := t0.Add(time.Duration(records) * 30 * time.Second)
	for _, tc := range []struct {
		name string
		f    AuditFilter
		want int
	}{
		{"nothing/unknown-instance", AuditFilter{Instance: "r-nosuch"}, 0},
		{"nothing/instance-and-action-never-together", AuditFilter{Instance: "r-01", Action: "ModifySecurityIps"}, 0},
		{"page/newest", AuditFilter{}, 100},
		{"page/instance", AuditFilter{Instance: "r-07"}, 100},
		{"page/instance-and-action", AuditFilter{Instance: "r-04", Action: "ModifySecurityIps"}, 100},
		{"page/key-last-day", AuditFilter{KeyID: "MOATKEY0000000000003", Since: last.Add(-24 * time.Hour)}, 100},
		{"page/instance-mid-log", AuditFilter{Instance: "r-07", Until: t0.Add(time.Duration(records/2) * 30 * time.Second)}, 100},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, _, err := p.AuditPage(tc.f)
				if err != nil || len(got) != tc.want {
					b.Fatalf("%+v: %d records, %v; want %d", tc.f, len(got), err, tc.want)
				}
			}
		})
	}
}
