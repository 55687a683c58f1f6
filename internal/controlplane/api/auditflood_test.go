package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/server"
)

// seqs lists the records' sequence numbers and actions, in order.
func seqs(rows []auditRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%d %s %s", r.Seq, r.Action, r.KeyID)
	}
	return out
}

// A read-only key floods the API with denied changes — far more calls, and more kinds of call, than the
// failed-call records may hold — and every record of who created which key and changed which whitelist
// survives, a restart too; the failed calls stay within their bound, the repeats counted.
func TestDeniedFloodCannotFlushTheAuditTrail(t *testing.T) {
	const bound = 10
	m := &moat{t: t, dir: t.TempDir(), tune: func(o *server.Options) { o.AuditFailedCalls = bound }}
	m.start()
	t.Cleanup(m.stop)
	m.modify(m.inst, "app", "Cover", "10.3.0.0/16")
	out := m.mustCall("CreateAccessKey", map[string]string{"Actions": "Describe*", "Instances": m.inst, "Description": "reader"})
	readerID, readerSecret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)
	m.modify(m.inst, "ops", "Cover", "10.4.0.0/16")
	changes := seqs(m.auditAll())
	if len(changes) < 3 {
		t.Fatalf("setup: %q", changes)
	}

	deny := func(inst string) {
		t.Helper()
		params := url.Values{"InstanceId": {inst}, "SecurityIpGroupName": {"default"}, "SecurityIps": {"0.0.0.0/0"}}
		status, body := m.do("ModifySecurityIps", rawRequest{Params: params, KeyID: readerID, Secret: readerSecret, Source: "127.0.0.7"})
		wantErrorJSON(t, status, body, 403, "Forbidden.RAM")
	}
	const kinds, repeats = 5 * bound, 150
	for i := range kinds {
		deny(fmt.Sprintf("r-flood%03d", i))
	}
	for range repeats {
		deny(m.inst)
	}

	for _, when := range []string{"after the flood", "after a restart"} {
		if got := seqs(m.auditAll()); !slices.Equal(got, changes) {
			t.Fatalf("%s the records of changes are\n%q\nwant\n%q", when, got, changes)
		}
		failed := m.failedAll()
		if len(failed) != bound {
			t.Fatalf("%s: %d failed-call records, want the bound %d", when, len(failed), bound)
		}
		if f := failed[0]; f.KeyID != readerID || f.Instance != m.inst || f.Count != repeats || f.Result != "denied" || f.Source != "127.0.0.7" {
			t.Fatalf("%s: the repeated denial is recorded as %+v", when, f)
		}
		m.restart()
	}
	// The flood is readable by its key.
	out = m.mustCall("DescribeAuditLogs", map[string]string{"LogType": "FailedCalls", "UserAccessKeyId": readerID, "InstanceId": m.inst})
	if list := out["AuditLogs"].(map[string]any)["AuditLog"].([]any); len(list) != 1 || list[0].(map[string]any)["count"] != float64(repeats) {
		t.Fatalf("the reader's failed calls on %s: %v", m.inst, list)
	}
}

// DescribeAuditLogs filters by key and time range, reads page after page with NextToken, and names a bad
// parameter.
func TestDescribeAuditLogsFiltersAndPages(t *testing.T) {
	m := startMoat(t)
	out := m.mustCall("CreateAccessKey", map[string]string{"Actions": "ModifySecurityIps,Describe*", "Instances": m.inst, "Description": "ops"})
	opsID, opsSecret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)
	for i := range 5 {
		m.modify(m.inst, "app", "Append", fmt.Sprintf("10.5.%d.0/24", i))
	}
	params := url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"ops"}, "SecurityIps": {"10.6.0.0/16"}}
	if status, body := m.do("ModifySecurityIps", rawRequest{Params: params, KeyID: opsID, Secret: opsSecret}); status != 200 {
		t.Fatalf("the ops key's change: %d %s", status, body)
	}
	all := m.auditAll()

	page := func(p map[string]string) ([]auditRow, string) {
		t.Helper()
		out := m.mustCall("DescribeAuditLogs", p)
		var rows []auditRow
		for _, e := range out["AuditLogs"].(map[string]any)["AuditLog"].([]any) {
			e := e.(map[string]any)
			rows = append(rows, auditRow{Seq: uint64(e["seq"].(float64)), KeyID: e["key_id"].(string), Action: e["action"].(string)})
		}
		next, _ := out["NextToken"].(string)
		return rows, next
	}
	if got, next := page(map[string]string{"UserAccessKeyId": opsID}); len(got) != 1 || got[0].KeyID != opsID || next != "" {
		t.Fatalf("the ops key's changes: %+v, next %q", got, next)
	}
	var paged []auditRow
	for p := (map[string]string{"PageSize": "2"}); ; {
		rows, next := page(p)
		paged = append(paged, rows...)
		if next == "" {
			break
		}
		p["NextToken"] = next
	}
	if !slices.Equal(seqs(paged), seqs(all)) {
		t.Fatalf("read two at a time:\n%q\nwant\n%q", seqs(paged), seqs(all))
	}

	// A time range: the third newest record's time included, the newest's excluded.
	times := map[uint64]string{}
	for _, e := range m.mustCall("DescribeAuditLogs", nil)["AuditLogs"].(map[string]any)["AuditLog"].([]any) {
		e := e.(map[string]any)
		times[uint64(e["seq"].(float64))] = e["time"].(string)
	}
	got, _ := page(map[string]string{"StartTime": times[all[2].Seq], "EndTime": times[all[0].Seq]})
	if !slices.Equal(seqs(got), seqs(all[1:3])) {
		t.Fatalf("from the third newest to before the newest: %q, want %q", seqs(got), seqs(all[1:3]))
	}
	// The zero time is a bound like any other: nothing ends before it, everything starts after it.
	if got, _ := page(map[string]string{"EndTime": "0001-01-01T00:00:00Z"}); len(got) != 0 {
		t.Fatalf("EndTime=0001-01-01: %q, want nothing", seqs(got))
	}
	if got, _ := page(map[string]string{"StartTime": "0001-01-01T00:00:00Z"}); !slices.Equal(seqs(got), seqs(all)) {
		t.Fatalf("StartTime=0001-01-01: %q, want every record", seqs(got))
	}

	for _, tc := range []struct {
		params        map[string]string
		code, message string
	}{
		{map[string]string{"StartTime": "yesterday"}, "InvalidStartTime.Malformed", "yesterday"},
		{map[string]string{"EndTime": time.Now().Format(time.DateTime)}, "InvalidEndTime.Malformed", "RFC 3339"},
		{map[string]string{"NextToken": "zz"}, "InvalidNextToken.Malformed", "zz"},
		{map[string]string{"LogType": "Everything"}, "InvalidLogType.ValueNotSupported", "Everything"},
	} {
		m.wantRefused(t, "DescribeAuditLogs", tc.params, 400, tc.code, tc.message)
	}
}
