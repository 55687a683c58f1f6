package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"
)

// An API change decides the very next connection: each 127.0.0.x address is a distinct client, and
// CheckAccess (API6) gives the same verdict as the listener.
func TestWhitelistChangeDecidesNextConnection(t *testing.T) {
	m := startMoat(t)
	check := func(src string) bool {
		t.Helper()
		return m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src})["Allowed"].(bool)
	}
	// want checks each address is admitted (a SET succeeds) or refused, by the listener and by CheckAccess.
	want := func(step string, admitted map[string]bool) {
		t.Helper()
		for src, ok := range admitted {
			got := redis(t, m.listen, src, "SET from "+strings.ReplaceAll(src, ".", "_"))
			switch {
			case ok && got != "+OK":
				t.Errorf("%s: %s should be admitted, got %q", step, src, got)
			case !ok && got != illegal:
				t.Errorf("%s: %s should be refused, got %q", step, src, got)
			}
			if check(src) != ok {
				t.Errorf("%s: CheckAccess(%s) = %v, the listener says %v", step, src, !ok, ok)
			}
		}
	}

	// W1/W6: 127.0.0.1 alone denies everyone, loopback included.
	want("new instance", map[string]bool{"127.0.0.1": false, "127.0.0.5": false})

	m.modify(m.inst, "app", "Cover", "127.0.0.5")
	want("Cover 127.0.0.5", map[string]bool{"127.0.0.5": true, "127.0.0.6": false, "127.0.0.1": false})
	if got := redis(t, m.listen, "127.0.0.5", "GET from"); got != "127_0_0_5" {
		t.Fatalf("GET from the admitted client: %q", got)
	}

	m.modify(m.inst, "app", "Append", "127.0.0.6")
	want("Append 127.0.0.6", map[string]bool{"127.0.0.5": true, "127.0.0.6": true, "127.0.0.7": false})

	m.modify(m.inst, "app", "Delete", "127.0.0.5")
	want("Delete 127.0.0.5", map[string]bool{"127.0.0.5": false, "127.0.0.6": true})

	m.modify(m.inst, "lab", "Cover", "127.0.8.0/24")
	want("a second group", map[string]bool{"127.0.8.9": true, "127.0.9.9": false, "127.0.0.6": true})

	m.mustCall("DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "app"})
	want("DeleteSecurityIpGroup app", map[string]bool{"127.0.0.6": false, "127.0.8.9": true})

	// W6: beside other entries the placeholder 127.0.0.1 is void: it admits nobody…
	want("127.0.0.1 beside another group", map[string]bool{"127.0.0.1": false})
	// …and back to 127.0.0.1 alone, everyone is refused again.
	m.mustCall("DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "lab"})
	want("back to 127.0.0.1 alone", map[string]bool{"127.0.0.1": false, "127.0.8.9": false})
}

// CreateInstance serves at once and refuses everyone until whitelisted; DeleteInstance stops serving.
func TestCreateServesAtOnceDeleteStops(t *testing.T) {
	m := startMoat(t)
	listen := m.create("r-fresh")
	for _, src := range []string{"127.0.0.1", "127.0.0.2"} {
		if got := redis(t, listen, src, "PING"); got != illegal {
			t.Fatalf("new instance, %s: %q", src, got)
		}
	}
	m.modify("r-fresh", "app", "Cover", "127.0.0.2")
	if got := redis(t, listen, "127.0.0.2", "PING"); got != "+PONG" {
		t.Fatalf("whitelisted: %q", got)
	}
	// The default instance is a different instance: its whitelist is untouched.
	if got := redis(t, m.listen, "127.0.0.2", "PING"); got != illegal {
		t.Fatalf("the default instance admitted an address whitelisted elsewhere: %q", got)
	}

	// Without Listen, CreateInstance picks a free port on 127.0.0.1 and says which.
	out := m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-anyport"})
	addrs, _ := out["ListenAddresses"].([]any)
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0].(string), "127.0.0.1:") || strings.HasSuffix(addrs[0].(string), ":0") {
		t.Fatalf("CreateInstance without Listen: %v", out)
	}
	if got := redis(t, addrs[0].(string), "127.0.0.1", "PING"); got != illegal {
		t.Fatalf("r-anyport: %q", got)
	}

	m.mustCall("DeleteInstance", map[string]string{"InstanceId": "r-fresh"})
	if got := redis(t, listen, "127.0.0.2", "PING"); !strings.HasPrefix(got, "dial error") {
		t.Fatalf("after DeleteInstance, a client got %q", got)
	}
	status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {"r-fresh"}}})
	wantErrorJSON(t, status, body, 404, "InvalidInstanceId.NotFound")
}

// A change made through the API is durable: after a restart on the same data directory, describe shows
// it and the listener enforces it — for the default instance and for one created through the API.
func TestChangeSurvivesRestart(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "app", "Cover", "127.0.0.5,10.0.0.0/8")
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"timeout":"120"}`})
	listen := m.create("r-kept")
	m.modify("r-kept", "ops", "Cover", "127.0.0.6")
	if got := redis(t, listen, "127.0.0.6", "SET k v"); got != "+OK" {
		t.Fatalf("before restart: %q", got)
	}
	keyID := m.keyID

	m.restart()
	if m.keyID != keyID {
		t.Fatalf("the admin key changed across the restart: %s → %s", keyID, m.keyID)
	}
	if g := m.groups(m.inst); len(g) != 2 || g[1] != (ipGroup{"app", "", "127.0.0.5,10.0.0.0/8"}) {
		t.Fatalf("groups after restart: %+v", g)
	}
	req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
	req.InstanceId = "r-kept"
	resp, err := m.admin().DescribeSecurityIps(req)
	if err != nil {
		t.Fatal(err)
	}
	if g := resp.SecurityIpGroups.SecurityIpGroup; len(g) != 2 || g[1].SecurityIpGroupName != "ops" || g[1].SecurityIpList != "127.0.0.6" {
		t.Fatalf("r-kept after restart: %+v", g)
	}
	params := m.mustCall("DescribeParameters", map[string]string{"DBInstanceId": m.inst})
	if b, _ := json.Marshal(params["RunningParameters"]); !strings.Contains(string(b), `"ParameterName":"timeout","ParameterValue":"120"`) {
		t.Fatalf("parameters after restart: %s", b)
	}
	if got := redis(t, m.listen, "127.0.0.5", "PING"); got != "+PONG" {
		t.Fatalf("default instance after restart, whitelisted client: %q", got)
	}
	if got := redis(t, m.listen, "127.0.0.6", "PING"); got != illegal {
		t.Fatalf("default instance after restart, other client: %q", got)
	}
	if got := redis(t, listen, "127.0.0.6", "GET k"); got != "v" {
		t.Fatalf("r-kept after restart: %q", got)
	}
}

// Every change is audited (API2): which key, from which address, what action on which instance, and
// the state before and after; newest first.
func TestAuditLogSaysWhoWhatBeforeAfter(t *testing.T) {
	m := startMoat(t)
	out := m.mustCall("CreateAccessKey", map[string]string{"Actions": "ModifySecurityIps,Describe*", "Instances": m.inst, "Description": "ops"})
	opsID, opsSecret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)

	// The ops key, calling from 127.0.0.9, whitelists an address.
	status, body := m.do("ModifySecurityIps", rawRequest{
		Params: url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "SecurityIps": {"10.1.2.0/24"}},
		KeyID:  opsID, Secret: opsSecret, Source: "127.0.0.9", Form: true,
	})
	if status != 200 {
		t.Fatalf("ModifySecurityIps with the ops key: HTTP %d %s", status, body)
	}
	m.modify(m.inst, "app", "Append", "10.9.9.9")

	out = m.mustCall("DescribeAuditLogs", map[string]string{"InstanceId": m.inst, "PageSize": "10"})
	var entries []struct {
		Seq      uint64
		Time     string
		KeyID    string `json:"key_id"`
		Source   string
		Action   string
		Instance string
		Result   string
		Before   json.RawMessage
		After    json.RawMessage
	}
	b, _ := json.Marshal(out["AuditLogs"].(map[string]any)["AuditLog"])
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Fatalf("audit log: %s", b)
	}
	newest, ops := entries[0], entries[1]
	if newest.KeyID != m.keyID || newest.Action != "ModifySecurityIps" || newest.Seq <= ops.Seq {
		t.Fatalf("newest entry: %+v", newest)
	}
	if ops.KeyID != opsID || ops.Source != "127.0.0.9" || ops.Action != "ModifySecurityIps" || ops.Instance != m.inst || ops.Result != "ok" || ops.Time == "" {
		t.Fatalf("the ops key's entry: %+v", ops)
	}
	type groupsOnly struct {
		Groups []struct {
			Name    string
			Entries []string
		}
	}
	var before, after groupsOnly
	if err := json.Unmarshal(ops.Before, &before); err != nil {
		t.Fatalf("before: %v %s", err, ops.Before)
	}
	if err := json.Unmarshal(ops.After, &after); err != nil {
		t.Fatalf("after: %v %s", err, ops.After)
	}
	if len(before.Groups) != 1 || before.Groups[0].Name != "default" {
		t.Fatalf("before: %s", ops.Before)
	}
	if len(after.Groups) != 2 || after.Groups[1].Name != "app" || len(after.Groups[1].Entries) != 1 || after.Groups[1].Entries[0] != "10.1.2.0/24" {
		t.Fatalf("after: %s", ops.After)
	}
	// The next change's "before" is this one's "after".
	if string(newest.Before) != string(ops.After) {
		t.Fatalf("audit chain broken:\nbefore %s\nafter  %s", newest.Before, ops.After)
	}
	// The log never holds a secret.
	all, _ := json.Marshal(m.mustCall("DescribeAuditLogs", map[string]string{"PageSize": "1000"}))
	for _, s := range []string{opsSecret, m.secret} {
		if strings.Contains(string(all), s) {
			t.Fatal("the audit log contains a secret")
		}
	}
	if !strings.Contains(string(all), `"action":"CreateAccessKey"`) {
		t.Fatalf("CreateAccessKey is not audited: %s", all)
	}
}
