package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// auditRow is one entry of DescribeAuditLogs.
type auditRow struct {
	Seq      uint64
	KeyID    string `json:"key_id"`
	Source   string
	Action   string
	Instance string
	Result   string
	Error    string
	Count    uint64
}

// auditAll is the whole log of changes, newest first (DescribeAuditLogs with the administrator key).
func (m *moat) auditAll() []auditRow { return m.auditLog("Changes") }

// failedAll is every failed-call record, most recently seen first.
func (m *moat) failedAll() []auditRow { return m.auditLog("FailedCalls") }

func (m *moat) auditLog(logType string) []auditRow {
	m.t.Helper()
	out := m.mustCall("DescribeAuditLogs", map[string]string{"PageSize": "1000", "LogType": logType})
	b, _ := json.Marshal(out["AuditLogs"].(map[string]any)["AuditLog"])
	var rows []auditRow
	if err := json.Unmarshal(b, &rows); err != nil {
		m.t.Fatal(err)
	}
	return rows
}

// Every failed or denied call by a valid key is among the audited failed calls — reads included, and
// calls naming no known action or version — with who, from where, what and why, and not in the log of
// changes; a repeat is counted into its record. Successful reads are not recorded, and neither are calls
// whose signature fails. None of the refused calls changes anything.
func TestFailedAndDeniedCallsAreAudited(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "app", "Cover", "10.3.0.0/16")
	out := m.mustCall("CreateAccessKey", map[string]string{"Actions": "Describe*,CheckAccess", "Instances": m.inst, "Description": "reader"})
	readerID, readerSecret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)
	reader := func(action string, params url.Values) (int, []byte) {
		return m.do(action, rawRequest{Params: params, KeyID: readerID, Secret: readerSecret, Source: "127.0.0.7"})
	}
	groupsBefore, _ := json.Marshal(m.groups(m.inst))

	// Successful reads by either key add nothing.
	start, startFailed := m.auditAll(), m.failedAll()
	m.mustCall("DescribeSecurityIps", map[string]string{"InstanceId": m.inst})
	m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "10.3.0.1"})
	m.mustCall("DescribeInstances", nil)
	if status, body := reader("DescribeSecurityIps", url.Values{"InstanceId": {m.inst}}); status != 200 {
		t.Fatalf("reader describe: HTTP %d %s", status, body)
	}
	if got := m.auditAll(); len(got) != len(start) || got[0].Seq != start[0].Seq {
		t.Fatalf("successful reads were audited: %+v", got[:len(got)-len(start)])
	}
	if got := m.failedAll(); len(got) != len(startFailed) {
		t.Fatalf("successful reads were audited as failed: %+v", got)
	}

	type refused struct {
		name   string
		send   func() (int, []byte)
		status int
		code   string
		want   auditRow // KeyID, Source, Action, Instance, Result; Error must contain want.Error
	}
	admin := func(action string, params url.Values) func() (int, []byte) {
		return func() (int, []byte) { return m.do(action, rawRequest{Params: params}) }
	}
	cases := []refused{
		{"failed read: unknown instance", admin("DescribeSecurityIps", url.Values{"InstanceId": {"r-nosuch"}}),
			404, "InvalidInstanceId.NotFound", auditRow{KeyID: m.keyID, Source: "127.0.0.1", Action: "DescribeSecurityIps", Instance: "r-nosuch", Result: "error", Error: "r-nosuch"}},
		{"failed read: missing parameter", admin("DescribeInstanceAttribute", nil),
			400, "MissingParameter", auditRow{KeyID: m.keyID, Source: "127.0.0.1", Action: "DescribeInstanceAttribute", Result: "error", Error: "InstanceId"}},
		{"failed dry run: malformed address", func() (int, []byte) {
			return reader("CheckAccess", url.Values{"InstanceId": {m.inst}, "SourceIp": {"10.3.0.999"}})
		}, 400, "InvalidSourceIp.Malformed", auditRow{KeyID: readerID, Source: "127.0.0.7", Action: "CheckAccess", Instance: m.inst, Result: "error", Error: "10.3.0.999"}},
		{"denied read: another instance", func() (int, []byte) {
			return reader("DescribeSecurityIps", url.Values{"InstanceId": {"r-other"}})
		}, 403, "Forbidden.RAM", auditRow{KeyID: readerID, Source: "127.0.0.7", Action: "DescribeSecurityIps", Instance: "r-other", Result: "denied", Error: "Forbidden.RAM"}},
		{"denied change", func() (int, []byte) {
			return reader("ModifySecurityIps", url.Values{"InstanceId": {m.inst}, "SecurityIps": {"0.0.0.0/0"}})
		}, 403, "Forbidden.RAM", auditRow{KeyID: readerID, Source: "127.0.0.7", Action: "ModifySecurityIps", Instance: m.inst, Result: "denied", Error: "Forbidden.RAM"}},
		{"failed change", admin("ModifySecurityIps", url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "SecurityIps": {"10.3.0.0/33"}}),
			400, "InvalidSecurityIPList.Format", auditRow{KeyID: m.keyID, Source: "127.0.0.1", Action: "ModifySecurityIps", Instance: m.inst, Result: "error", Error: "10.3.0.0/33"}},
		{"unknown action", func() (int, []byte) {
			return reader("FrobnicateInstance", url.Values{"InstanceId": {m.inst}})
		}, 404, "InvalidAction.NotFound", auditRow{KeyID: readerID, Source: "127.0.0.7", Action: "FrobnicateInstance", Instance: m.inst, Result: "error", Error: "InvalidAction.NotFound"}},
		{"wrong version", admin("DescribeSecurityIps", url.Values{"InstanceId": {m.inst}, "Version": {"2014-05-26"}}),
			400, "InvalidVersion", auditRow{KeyID: m.keyID, Source: "127.0.0.1", Action: "DescribeSecurityIps", Instance: m.inst, Result: "error", Error: "2014-05-26"}},
	}
	for _, tc := range cases {
		before := m.failedAll()
		status, body := tc.send()
		wantErrorJSON(t, status, body, tc.status, tc.code)
		after := m.failedAll()
		if len(after) != len(before)+1 {
			t.Fatalf("%s: %d new failed-call records, want 1: %+v", tc.name, len(after)-len(before), after)
		}
		got := after[0]
		if got.KeyID != tc.want.KeyID || got.Source != tc.want.Source || got.Action != tc.want.Action ||
			got.Instance != tc.want.Instance || got.Result != tc.want.Result || !strings.Contains(got.Error, tc.want.Error) || got.Count != 1 {
			t.Fatalf("%s: audited as %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := m.auditAll(); len(got) != len(start) {
		t.Fatalf("refused calls are in the log of changes: %+v", got[:len(got)-len(start)])
	}

	// A repeat counts into its record: no new record, the count grows, the record is the most recent.
	before := m.failedAll()
	for range 2 {
		status, body := cases[4].send()
		wantErrorJSON(t, status, body, cases[4].status, cases[4].code)
	}
	if after := m.failedAll(); len(after) != len(before) || after[0].Action != "ModifySecurityIps" || after[0].Result != "denied" ||
		after[0].KeyID != readerID || after[0].Count != 3 {
		t.Fatalf("after two repeats of the denied change: %+v", after)
	}

	// Calls that do not prove a valid key are not recorded: a wrong secret, an unknown key, no
	// signature, even for an unknown action.
	before = m.failedAll()
	status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {"r-nosuch"}}, KeyID: readerID, Secret: readerSecret + "x"})
	wantErrorJSON(t, status, body, 400, "SignatureDoesNotMatch")
	status, body = m.do("FrobnicateInstance", rawRequest{KeyID: readerID, Secret: "wrong"})
	wantErrorJSON(t, status, body, 404, "InvalidAction.NotFound")
	status, body = m.do("ModifySecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}, "SecurityIps": {"0.0.0.0/0"}}, KeyID: "MOATNOSUCHKEY0000000000", Secret: "s"})
	wantErrorJSON(t, status, body, 404, "InvalidAccessKeyId.NotFound")
	hr, _ := http.NewRequest("GET", "http://"+m.api+"/?Action=FrobnicateInstance&Version=2015-01-01", nil)
	status, body = m.send(hr, "")
	wantErrorJSON(t, status, body, 404, "InvalidAction.NotFound")
	if after := m.failedAll(); len(after) != len(before) || after[0].Count != before[0].Count {
		t.Fatalf("unauthenticated calls were audited: %+v", after)
	}

	// Nothing the refused calls asked for happened, and no secret is in the log.
	if g, _ := json.Marshal(m.groups(m.inst)); string(g) != string(groupsBefore) {
		t.Fatalf("refused calls changed the whitelist:\n got %s\nwant %s", g, groupsBefore)
	}
	all, _ := json.Marshal(append(m.auditAll(), m.failedAll()...))
	for _, s := range []string{m.secret, readerSecret} {
		if strings.Contains(string(all), s) {
			t.Fatal("the audit log holds a secret")
		}
	}
}
