package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// Every refused change answers the exact provider-style code with a 4xx status and the full error JSON,
// and leaves the instance as it was (W2–W5, W10).
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "app", "Cover", "10.0.0.0/24,10.0.1.5")
	m.mustCall("ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "dts_sync",
		"SecurityIpGroupAttribute": "hidden", "SecurityIps": "100.104.0.0/16"})
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"timeout":"60"}`})

	many := func(n, start int) string {
		ips := make([]string, n)
		for i := range ips {
			k := start + i
			ips[i] = fmt.Sprintf("10.%d.%d.%d", 100+k/65536, k/256%256, k%256)
		}
		return strings.Join(ips, ",")
	}
	modify := func(group, mode, ips string) map[string]string {
		return map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": group, "ModifyMode": mode, "SecurityIps": ips}
	}
	type tc struct {
		name    string
		action  string
		params  map[string]string
		status  int
		code    string
		message string // a substring the message must hold ("" for none)
	}
	cases := []tc{
		// W3: entries.
		{"malformed address", "ModifySecurityIps", modify("app", "Cover", "10.0.0.256"), 400, "InvalidSecurityIPList.Format", `"10.0.0.256"`},
		{"not an address", "ModifySecurityIps", modify("app", "Cover", "localhost"), 400, "InvalidSecurityIPList.Format", `"localhost"`},
		{"IPv4 shorthand", "ModifySecurityIps", modify("app", "Cover", "10.1"), 400, "InvalidSecurityIPList.Format", `"10.1"`},
		{"prefix length 33", "ModifySecurityIps", modify("app", "Cover", "0.0.0.0/33"), 400, "InvalidSecurityIPList.Format", "prefix length"},
		{"prefix length with a sign", "ModifySecurityIps", modify("app", "Cover", "10.0.0.0/+8"), 400, "InvalidSecurityIPList.Format", `"10.0.0.0/+8"`},
		{"/0 with host bits", "ModifySecurityIps", modify("app", "Cover", "10.0.0.0/0"), 400, "InvalidSecurityIPList.Format", "use 0.0.0.0/0"},
		{"host bits set", "ModifySecurityIps", modify("app", "Cover", "10.23.12.5/24"), 400, "InvalidSecurityIPList.Format", "use 10.23.12.0/24"},
		{"IPv6 host bits set", "ModifySecurityIps", modify("app", "Cover", "2001:db8::1/32"), 400, "InvalidSecurityIPList.Format", "use 2001:db8::/32"},
		{"IPv6 prefix length 129", "ModifySecurityIps", modify("app", "Cover", "2001:db8::/129"), 400, "InvalidSecurityIPList.Format", "prefix length"},
		{"IPv6 zone", "ModifySecurityIps", modify("app", "Cover", "fe80::1%eth0"), 400, "InvalidSecurityIPList.Format", "zone"},
		{"space after comma", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1, 10.1.1.2"), 400, "InvalidSecurityIPList.Format", "spaces"},
		{"space before comma", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1 ,10.1.1.2"), 400, "InvalidSecurityIPList.Format", "spaces"},
		{"empty item", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1,,10.1.1.2"), 400, "InvalidSecurityIPList.Format", "empty"},
		{"trailing comma", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1,"), 400, "InvalidSecurityIPList.Format", "empty"},
		{"every bad entry named", "ModifySecurityIps", modify("app", "Cover", "10.1.1.300,10.1.1.1,10.9.9.9/8"), 400, "InvalidSecurityIPList.Format", "use 10.0.0.0/8"},
		{"1,001 entries", "ModifySecurityIps", modify("app", "Cover", many(1001, 0)), 400, "InvalidSecurityIPList.QuotaExceeded", "1001 entries"},
		{"append beyond 1,000", "ModifySecurityIps", modify("app", "Append", many(999, 0)), 400, "InvalidSecurityIPList.QuotaExceeded", "1001 entries"},
		{"duplicate in the request", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1,10.2.2.2,10.1.1.1"), 400, "InvalidSecurityIPList.Duplicate", `"10.1.1.1"`},
		{"duplicate spelt differently", "ModifySecurityIps", modify("app", "Cover", "10.1.1.1,10.1.1.1/32"), 400, "InvalidSecurityIPList.Duplicate", `"10.1.1.1/32"`},
		{"append an entry the group has", "ModifySecurityIps", modify("app", "Append", "10.0.1.5"), 400, "InvalidSecurityIPList.Duplicate", "already in the group"},
		{"no entries", "ModifySecurityIps", modify("app", "Cover", ""), 400, "MissingParameter", "SecurityIps"},
		// W2: group names.
		{"name too short", "ModifySecurityIps", modify("a", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "2 to 32"},
		{"name of 33", "ModifySecurityIps", modify("a"+strings.Repeat("b", 32), "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "2 to 32"},
		{"uppercase name", "ModifySecurityIps", modify("App", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "lowercase"},
		{"leading digit", "ModifySecurityIps", modify("1app", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "start with a lowercase letter"},
		{"leading underscore", "ModifySecurityIps", modify("_app", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "start with a lowercase letter"},
		{"trailing underscore", "ModifySecurityIps", modify("app_", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "end with a lowercase letter or digit"},
		{"bad character", "ModifySecurityIps", modify("app-1", "Cover", "10.1.1.1"), 400, "InvalidGroupName.Format", "only lowercase letters, digits and _"},
		{"bad name on delete", "DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "App"}, 404, "InvalidSecurityIPGroupName.NotFound", `"App"`},
		// W4, W5: groups that cannot be changed.
		{"delete default", "DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "default"}, 400, "OperationDenied.DefaultGroup", "default"},
		{"cover a hidden group", "ModifySecurityIps", modify("dts_sync", "Cover", "10.1.1.1"), 403, "OperationDenied.SystemGroup", `"dts_sync"`},
		{"append to a hidden group", "ModifySecurityIps", modify("dts_sync", "Append", "10.1.1.1"), 403, "OperationDenied.SystemGroup", `"dts_sync"`},
		{"delete from a hidden group", "ModifySecurityIps", modify("dts_sync", "Delete", "100.104.0.0/16"), 403, "OperationDenied.SystemGroup", `"dts_sync"`},
		{"delete a hidden group", "DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "dts_sync"}, 403, "OperationDenied.SystemGroup", `"dts_sync"`},
		{"create a reserved system group", "ModifySecurityIps", modify("ali_dms_group", "Cover", "10.1.1.1"), 403, "OperationDenied.SystemGroup", "reserved"},
		{"change a group's attribute", "ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "app", "SecurityIpGroupAttribute": "hidden", "SecurityIps": "10.1.1.1"}, 400, "InvalidSecurityIpGroupAttribute.ValueNotSupported", "attribute"},
		{"unknown attribute", "ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "new", "SecurityIpGroupAttribute": "secret", "SecurityIps": "10.1.1.1"}, 400, "InvalidSecurityIpGroupAttribute.ValueNotSupported", `"secret"`},
		{"delete an absent entry", "ModifySecurityIps", modify("app", "Delete", "10.0.1.5,10.9.9.9"), 404, "InvalidSecurityIPs.NotFound", `"10.9.9.9"`},
		{"delete from an absent group", "ModifySecurityIps", modify("nosuch", "Delete", "10.0.1.5"), 404, "InvalidSecurityIPGroupName.NotFound", `"nosuch"`},
		{"delete an absent group", "DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "nosuch"}, 404, "InvalidSecurityIPGroupName.NotFound", `"nosuch"`},
		{"lowercase mode", "ModifySecurityIps", modify("app", "cover", "10.1.1.1"), 400, "InvalidModifyMode.ValueNotSupported", `"cover"`},
		{"unknown mode", "ModifySecurityIps", modify("app", "Replace", "10.1.1.1"), 400, "InvalidModifyMode.ValueNotSupported", `"Replace"`},
		// Instances.
		{"describe an unknown instance", "DescribeSecurityIps", map[string]string{"InstanceId": "r-nosuch"}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
		{"modify an unknown instance", "ModifySecurityIps", map[string]string{"InstanceId": "r-nosuch", "SecurityIps": "10.1.1.1"}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
		{"delete an unknown instance", "DeleteInstance", map[string]string{"InstanceId": "r-nosuch"}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
		{"check an unknown instance", "CheckAccess", map[string]string{"InstanceId": "r-nosuch", "SourceIp": "10.0.0.1"}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
		{"check a malformed source", "CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "10.0.0"}, 400, "InvalidSourceIp.Malformed", `"10.0.0"`},
		{"create with a taken ID", "CreateInstance", map[string]string{"InstanceId": m.inst}, 400, "InvalidInstanceId.Duplicate", m.inst},
		{"create with a malformed ID", "CreateInstance", map[string]string{"InstanceId": "redis-1"}, 400, "InvalidInstanceId.Malformed", `"redis-1"`},
		{"create on a busy address", "CreateInstance", map[string]string{"InstanceId": "r-busy", "Listen": m.listen}, 400, "InvalidListen.InUse", m.listen},
		// Parameters.
		{"Config not JSON", "ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": "timeout=5"}, 400, "InvalidParameter.Config", "JSON object"},
		{"Config empty object", "ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": "{}"}, 400, "InvalidParameter.Config", "JSON object"},
		{"unknown parameter", "ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"maxmemory":"1gb"}`}, 400, "InvalidParameter.Config", `"maxmemory"`},
		{"bad value", "ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"drop-on-revoke":"maybe"}`}, 400, "InvalidParameter.Config", "yes or no"},
		{"all or none", "ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"timeout":"5","nosuch":"1"}`}, 400, "InvalidParameter.Config", `"nosuch"`},
		{"parameters of an unknown instance", "ModifyInstanceConfig", map[string]string{"InstanceId": "r-nosuch", "Config": `{"timeout":"5"}`}, 404, "InvalidInstanceId.NotFound", "r-nosuch"},
	}

	// state is what a user can see of the instances: groups and parameters, and the instance list.
	state := func() string {
		t.Helper()
		groups := m.groups(m.inst)
		params := m.mustCall("DescribeParameters", map[string]string{"DBInstanceId": m.inst})["RunningParameters"]
		list := m.mustCall("DescribeInstances", nil)["Instances"]
		b, _ := json.Marshal([]any{groups, params, list})
		return string(b)
	}
	before := state()
	if !strings.Contains(before, `"app","SecurityIpGroupAttribute":"","SecurityIpList":"10.0.0.0/24,10.0.1.5"`) ||
		!strings.Contains(before, `"ParameterName":"timeout","ParameterValue":"60"`) {
		t.Fatalf("setup: %s", before)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m.wantRefused(t, c.action, c.params, c.status, c.code, c.message)
			if after := state(); after != before {
				t.Fatalf("the refused call changed the instance:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	// A refused change is among the audited failed calls as an error, naming who asked.
	if status, _ := m.call("ModifySecurityIps", modify("app", "Replace", "10.1.1.1")); status != 400 {
		t.Fatalf("ModifyMode Replace: HTTP %d", status)
	}
	out := m.mustCall("DescribeAuditLogs", map[string]string{"InstanceId": m.inst, "ActionName": "ModifySecurityIps", "PageSize": "1", "LogType": "FailedCalls"})
	entries := out["AuditLogs"].(map[string]any)["AuditLog"].([]any)
	if len(entries) != 1 {
		t.Fatalf("audit: %v", out)
	}
	if e := entries[0].(map[string]any); e["result"] != "error" || e["key_id"] != m.keyID || !strings.Contains(e["error"].(string), `"Replace"`) {
		t.Fatalf("newest ModifySecurityIps audit entry: %v", e)
	}
}

// The same mistake through the SDK: the W3 rule that names the canonical form reaches the SDK user.
func TestHostBitsMessageReachesSDK(t *testing.T) {
	m := startMoat(t)
	req := modifyRequest(m, "app", "10.23.12.5/24")
	_, err := m.admin().ModifySecurityIps(req)
	se := wantSDKError(t, err, 400, "InvalidSecurityIPList.Format")
	if !strings.Contains(se.Message(), "10.23.12.0/24") {
		t.Fatalf("message does not name the canonical form: %q", se.Message())
	}
	if g := m.groups(m.inst); !reflect.DeepEqual(g, []ipGroup{{"default", "", "127.0.0.1"}}) {
		t.Fatalf("after the refused call: %+v", g)
	}
}
