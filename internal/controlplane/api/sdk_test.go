package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/controlplane/api/sign"
)

// The official SDK's typed whitelist calls work unchanged against moat: describe shows the cloud's
// shape, and Cover, Append and Delete change one group.
func TestSDKWhitelistCalls(t *testing.T) {
	m := startMoat(t)
	c := m.admin()
	describe := func() []r_kvstore.SecurityIpGroup {
		t.Helper()
		req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
		req.InstanceId = m.inst
		resp, err := c.DescribeSecurityIps(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.RequestId == "" {
			t.Fatal("DescribeSecurityIps without RequestId")
		}
		return resp.SecurityIpGroups.SecurityIpGroup
	}
	modify := func(group, attr, mode, ips string) {
		t.Helper()
		req := at(m, r_kvstore.CreateModifySecurityIpsRequest())
		req.InstanceId, req.SecurityIpGroupName, req.SecurityIpGroupAttribute, req.ModifyMode, req.SecurityIps = m.inst, group, attr, mode, ips
		resp, err := c.ModifySecurityIps(req)
		if err != nil {
			t.Fatalf("ModifySecurityIps %s %s %s: %v", group, mode, ips, err)
		}
		if resp.RequestId == "" {
			t.Fatal("ModifySecurityIps without RequestId")
		}
	}
	want := func(groups ...r_kvstore.SecurityIpGroup) {
		t.Helper()
		got := describe()
		if len(got) != len(groups) {
			t.Fatalf("groups:\n got %+v\nwant %+v", got, groups)
		}
		for i := range got {
			if got[i] != groups[i] {
				t.Fatalf("group %d:\n got %+v\nwant %+v", i, got[i], groups[i])
			}
		}
	}
	g := func(name, attr, list string) r_kvstore.SecurityIpGroup {
		return r_kvstore.SecurityIpGroup{SecurityIpGroupName: name, SecurityIpGroupAttribute: attr, SecurityIpList: list}
	}

	// W1: a new instance has one group, default, holding 127.0.0.1.
	want(g("default", "", "127.0.0.1"))

	modify("app", "", "Cover", "10.0.0.0/24,10.0.1.5")
	want(g("default", "", "127.0.0.1"), g("app", "", "10.0.0.0/24,10.0.1.5"))

	modify("app", "", "Append", "10.0.2.0/24,192.168.7.7")
	want(g("default", "", "127.0.0.1"), g("app", "", "10.0.0.0/24,10.0.1.5,10.0.2.0/24,192.168.7.7"))

	modify("app", "", "Delete", "10.0.1.5,192.168.7.7")
	want(g("default", "", "127.0.0.1"), g("app", "", "10.0.0.0/24,10.0.2.0/24"))

	// Cover without ModifyMode is the default mode; a missing group name means "default".
	modify("", "", "", "172.16.0.0/12")
	want(g("default", "", "172.16.0.0/12"), g("app", "", "10.0.0.0/24,10.0.2.0/24"))

	// A hidden group can be created, and describe shows its attribute.
	modify("dms_sync", "hidden", "Cover", "100.104.0.0/16")
	want(g("default", "", "172.16.0.0/12"), g("app", "", "10.0.0.0/24,10.0.2.0/24"), g("dms_sync", "hidden", "100.104.0.0/16"))

	// IPv6 entries are accepted and printed canonically.
	modify("v6", "", "Cover", "2001:DB8::/32,::1")
	got := describe()
	if last := got[len(got)-1]; last != g("v6", "", "2001:db8::/32,::1") {
		t.Fatalf("IPv6 group: %+v", last)
	}
}

// The typed instance calls: list, create (with moat's own Listen and InstanceId parameters set on the
// typed request), describe, parameters, configuration, delete.
func TestSDKInstanceCalls(t *testing.T) {
	m := startMoat(t)
	c := m.admin()

	list := func() *r_kvstore.DescribeInstancesResponse {
		t.Helper()
		resp, err := c.DescribeInstances(at(m, r_kvstore.CreateDescribeInstancesRequest()))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := list()
	if resp.TotalCount != 1 || len(resp.Instances.KVStoreInstance) != 1 {
		t.Fatalf("a fresh moat lists %d instances: %+v", resp.TotalCount, resp.Instances.KVStoreInstance)
	}
	if in := resp.Instances.KVStoreInstance[0]; in.InstanceId != m.inst || in.InstanceStatus != "Normal" || in.EngineVersion != "7.0" {
		t.Fatalf("default instance: %+v (want %s)", in, m.inst)
	}

	creq := at(m, r_kvstore.CreateCreateInstanceRequest())
	creq.InstanceName = "sdk-made"
	creq.EngineVersion = "6.0"
	creq.QueryParams["InstanceId"] = "r-sdk1"
	creq.QueryParams["Listen"] = "127.0.0.1:0" // moat resolves the port and reports it
	cresp, err := c.CreateInstance(creq)
	if err != nil {
		t.Fatal(err)
	}
	if cresp.InstanceId != "r-sdk1" || cresp.InstanceName != "sdk-made" || cresp.ConnectionDomain != "127.0.0.1" || cresp.Port == 0 || cresp.RequestId == "" {
		t.Fatalf("CreateInstance: %+v", cresp)
	}
	host, port := cresp.ConnectionDomain, strconv.Itoa(cresp.Port)
	listen := net.JoinHostPort(host, port)
	if got := redis(t, listen, "127.0.0.1", "PING"); got != illegal {
		t.Fatalf("the created instance answers loopback with %q, want every address refused", got)
	}
	if resp := list(); resp.TotalCount != 2 {
		t.Fatalf("after CreateInstance: %d instances", resp.TotalCount)
	}

	areq := at(m, r_kvstore.CreateDescribeInstanceAttributeRequest())
	areq.InstanceId = "r-sdk1"
	aresp, err := c.DescribeInstanceAttribute(areq)
	if err != nil {
		t.Fatal(err)
	}
	if len(aresp.Instances.DBInstanceAttribute) != 1 {
		t.Fatalf("DescribeInstanceAttribute: %+v", aresp.Instances)
	}
	if a := aresp.Instances.DBInstanceAttribute[0]; a.InstanceId != "r-sdk1" || a.InstanceName != "sdk-made" || a.EngineVersion != "6.0" ||
		a.SecurityIPList != "127.0.0.1" || a.ConnectionDomain != host || strconv.FormatInt(a.Port, 10) != port {
		t.Fatalf("DescribeInstanceAttribute: %+v", a)
	}

	params := func() map[string]string {
		t.Helper()
		req := at(m, r_kvstore.CreateDescribeParametersRequest())
		req.DBInstanceId = "r-sdk1"
		resp, err := c.DescribeParameters(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.ConfigParameters.Parameter) == 0 {
			t.Fatal("DescribeParameters: no ConfigParameters")
		}
		out := map[string]string{}
		for _, p := range resp.RunningParameters.Parameter {
			out[p.ParameterName] = p.ParameterValue
			if p.CheckingCode == "" || p.ParameterDescription == "" {
				t.Errorf("parameter %s lacks CheckingCode or description: %+v", p.ParameterName, p)
			}
		}
		return out
	}
	if p := params(); p["drop-on-revoke"] != "no" || p["timeout"] != "0" {
		t.Fatalf("default parameters: %v", p)
	}
	mreq := at(m, r_kvstore.CreateModifyInstanceConfigRequest())
	mreq.InstanceId = "r-sdk1"
	mreq.Config = `{"drop-on-revoke":"yes","timeout":300}`
	if _, err := c.ModifyInstanceConfig(mreq); err != nil {
		t.Fatal(err)
	}
	if p := params(); p["drop-on-revoke"] != "yes" || p["timeout"] != "300" {
		t.Fatalf("after ModifyInstanceConfig: %v", p)
	}

	dreq := at(m, r_kvstore.CreateDeleteInstanceRequest())
	dreq.InstanceId = "r-sdk1"
	if _, err := c.DeleteInstance(dreq); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeInstanceAttribute(areq)
	wantSDKError(t, err, 404, "InvalidInstanceId.NotFound")
	if resp := list(); resp.TotalCount != 1 {
		t.Fatalf("after DeleteInstance: %d instances", resp.TotalCount)
	}
}

// moat's own actions through the SDK's CommonRequest, with the parameters in the query and in a form
// body.
func TestSDKCommonRequests(t *testing.T) {
	for _, form := range []bool{false, true} {
		name := map[bool]string{false: "QueryParams", true: "FormParams"}[form]
		t.Run(name, func(t *testing.T) {
			m := startMoat(t)
			req := func(action string, params map[string]string) *requests.CommonRequest {
				r := m.common(action, nil)
				if form {
					r.Method = requests.POST
					for k, v := range params {
						r.FormParams[k] = v
					}
				} else {
					for k, v := range params {
						r.QueryParams[k] = v
					}
				}
				return r
			}

			out := m.commonJSON(req("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "10.0.0.7"}))
			if out["Allowed"] != false || !strings.Contains(out["Reason"].(string), "127.0.0.1") {
				t.Fatalf("CheckAccess on a new instance: %v", out)
			}
			m.modify(m.inst, "app", "Cover", "10.0.0.0/24")
			// Whitelisted, but from another host while the default user has no password: protected mode (N2).
			out = m.commonJSON(req("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "10.0.0.7"}))
			if out["Allowed"] != false || !strings.HasPrefix(out["Reason"].(string), "refused by protected mode") {
				t.Fatalf("CheckAccess whitelisted, protected mode on: %v", out)
			}
			m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"protected-mode":"no"}`})
			out = m.commonJSON(req("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "10.0.0.7"}))
			matches, _ := out["Matches"].([]any)
			if out["Allowed"] != true || len(matches) != 1 || matches[0].(map[string]any)["Group"] != "app" || matches[0].(map[string]any)["Entry"] != "10.0.0.0/24" {
				t.Fatalf("CheckAccess after whitelisting: %v", out)
			}
			// An IPv4-mapped IPv6 source is judged as IPv4 (W8).
			out = m.commonJSON(req("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "::ffff:10.0.0.7"}))
			if out["Allowed"] != true || out["SourceIp"] != "10.0.0.7" {
				t.Fatalf("CheckAccess with a mapped address: %v", out)
			}

			m.commonJSON(req("DeleteSecurityIpGroup", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "app"}))
			if g := m.groups(m.inst); len(g) != 1 || g[0].SecurityIpGroupName != "default" {
				t.Fatalf("after DeleteSecurityIpGroup: %+v", g)
			}

			out = m.commonJSON(req("CreateAccessKey", map[string]string{"Actions": "Describe*,CheckAccess", "Instances": m.inst, "Description": "monitoring"}))
			id, _ := out["AccessKeyId"].(string)
			secret, _ := out["AccessKeySecret"].(string)
			if !strings.HasPrefix(id, "MOAT") || len(secret) < 20 {
				t.Fatalf("CreateAccessKey: %v", out)
			}
			// The new key works at once, with the SDK.
			dreq := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
			dreq.InstanceId = m.inst
			if _, err := m.client(id, secret).DescribeSecurityIps(dreq); err != nil {
				t.Fatalf("the new key: %v", err)
			}

			out = m.commonJSON(req("DescribeAuditLogs", map[string]string{"InstanceId": m.inst}))
			logs := out["AuditLogs"].(map[string]any)["AuditLog"].([]any)
			var actions []string
			for _, e := range logs {
				actions = append(actions, e.(map[string]any)["action"].(string))
			}
			if len(actions) < 3 || actions[0] != "DeleteSecurityIpGroup" || actions[1] != "ModifyInstanceConfig" || actions[2] != "ModifySecurityIps" {
				t.Fatalf("DescribeAuditLogs (newest first): %v", actions)
			}
		})
	}
}

// Errors come back as the SDK's ServerError with the provider's codes and statuses.
func TestSDKErrors(t *testing.T) {
	m := startMoat(t)
	describe := func(c *r_kvstore.Client, inst string) error {
		req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
		req.InstanceId = inst
		_, err := c.DescribeSecurityIps(req)
		return err
	}

	t.Run("wrong secret", func(t *testing.T) {
		wantSDKError(t, describe(m.client(m.keyID, m.secret+"x"), m.inst), 400, "SignatureDoesNotMatch")
	})
	t.Run("unknown key", func(t *testing.T) {
		wantSDKError(t, describe(m.client("MOATNOSUCHKEY0000000000", "secret"), m.inst), 404, "InvalidAccessKeyId.NotFound")
	})
	t.Run("stale or future timestamp", func(t *testing.T) {
		for _, skew := range []time.Duration{-20 * time.Minute, 20 * time.Minute} {
			status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}}, Time: time.Now().Add(skew)})
			wantErrorJSON(t, status, body, 400, "InvalidTimeStamp.Expired")
		}
		// Within the window is fine.
		status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}}, Time: time.Now().Add(-10 * time.Minute)})
		if status != 200 {
			t.Fatalf("10 minutes old: HTTP %d %s", status, body)
		}
	})
	t.Run("reused nonce", func(t *testing.T) {
		r := rawRequest{Params: url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"replay"}, "ModifyMode": {"Append"}, "SecurityIps": {"10.9.0.1"}},
			Time: time.Now(), Nonce: "5f2b6a0c9d1e4f3a8b7c6d5e4f3a2b1c"}
		if status, body := m.do("ModifySecurityIps", r); status != 200 {
			t.Fatalf("first use: HTTP %d %s", status, body)
		}
		status, body := m.do("ModifySecurityIps", r) // the same signed request again
		wantErrorJSON(t, status, body, 400, "SignatureNonceUsed")
		for _, g := range m.groups(m.inst) {
			if g.SecurityIpGroupName == "replay" && g.SecurityIpList != "10.9.0.1" {
				t.Fatalf("the replay changed the group: %+v", g)
			}
		}
	})
	t.Run("policy", func(t *testing.T) {
		m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-other"})
		out := m.mustCall("CreateAccessKey", map[string]string{"Actions": "Describe*", "Instances": m.inst, "Description": "read one"})
		id, secret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)
		reader := m.client(id, secret)
		if err := describe(reader, m.inst); err != nil {
			t.Fatalf("a Describe* key describing its instance: %v", err)
		}
		req := at(m, r_kvstore.CreateModifySecurityIpsRequest())
		req.InstanceId, req.SecurityIpGroupName, req.SecurityIps = m.inst, "sneak", "0.0.0.0/0"
		_, err := reader.ModifySecurityIps(req)
		wantSDKError(t, err, 403, "Forbidden.RAM")
		wantSDKError(t, describe(reader, "r-other"), 403, "Forbidden.RAM")
		for _, g := range m.groups(m.inst) {
			if g.SecurityIpGroupName == "sneak" {
				t.Fatalf("the refused call changed the whitelist: %+v", g)
			}
		}
		// The key lists only the instance its policy names.
		resp, err := reader.DescribeInstances(at(m, r_kvstore.CreateDescribeInstancesRequest()))
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 1 || resp.Instances.KVStoreInstance[0].InstanceId != m.inst {
			t.Fatalf("DescribeInstances with a one-instance key: %+v", resp.Instances)
		}
		// The denial is among the audited failed calls.
		out = m.commonJSON(m.common("DescribeAuditLogs", map[string]string{"InstanceId": m.inst, "ActionName": "ModifySecurityIps", "LogType": "FailedCalls"}))
		var denied map[string]any
		for _, e := range out["AuditLogs"].(map[string]any)["AuditLog"].([]any) {
			if e := e.(map[string]any); e["result"] == "denied" {
				denied = e
				break
			}
		}
		if denied == nil || denied["key_id"] != id || denied["instance"] != m.inst || denied["source"] != "127.0.0.1" {
			t.Fatalf("no denied entry for key %s in the audit log: %v", id, out)
		}
	})
	t.Run("unknown action", func(t *testing.T) {
		_, err := m.admin().ProcessCommonRequest(m.common("FrobnicateInstance", map[string]string{"InstanceId": m.inst}))
		wantSDKError(t, err, 404, "InvalidAction.NotFound")
	})
	t.Run("missing Version", func(t *testing.T) {
		status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}, "Version": nil}})
		e := wantErrorJSON(t, status, body, 400, "MissingParameter")
		if !strings.Contains(e["Message"], "Version") {
			t.Fatalf("message does not name Version: %q", e["Message"])
		}
	})
	t.Run("wrong Version", func(t *testing.T) {
		status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}, "Version": {"2014-05-26"}}})
		wantErrorJSON(t, status, body, 400, "InvalidVersion")
	})
	t.Run("missing InstanceId", func(t *testing.T) {
		se := wantSDKError(t, describe(m.admin(), ""), 400, "MissingParameter")
		if !strings.Contains(se.Message(), "InstanceId") {
			t.Fatalf("message does not name InstanceId: %q", se.Message())
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		hr, _ := http.NewRequest("GET", "http://"+m.api+"/?Action=DescribeSecurityIps&Version=2015-01-01&InstanceId="+m.inst, nil)
		status, body := m.send(hr, "")
		wantErrorJSON(t, status, body, 400, "MissingSignature")
	})
}

// W7: opening an instance to every address works through the typed SDK call, and the raw response
// carries moat's warning.
func TestSDKOpenToEveryAddressWarns(t *testing.T) {
	m := startMoat(t)
	if got := redis(t, m.listen, "127.0.0.9", "PING"); got != illegal {
		t.Fatalf("before: %q", got)
	}
	req := at(m, r_kvstore.CreateModifySecurityIpsRequest())
	req.InstanceId, req.SecurityIpGroupName, req.SecurityIps = m.inst, "world", "0.0.0.0/0"
	resp, err := m.admin().ModifySecurityIps(req)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		RequestId    string
		MoatWarnings []string
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.RequestId != resp.RequestId || len(raw.MoatWarnings) != 1 || !strings.Contains(raw.MoatWarnings[0], "0.0.0.0/0") || !strings.Contains(raw.MoatWarnings[0], "every address") {
		t.Fatalf("response: %s", resp.GetHttpContentString())
	}
	if got := redis(t, m.listen, "127.0.0.9", "PING"); got != "+PONG" {
		t.Fatalf("after 0.0.0.0/0: %q", got)
	}
	// ::/0 warns too; an ordinary change does not.
	out := m.mustCall("ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "world6", "SecurityIps": "::/0"})
	if w, _ := out["MoatWarnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "::/0") {
		t.Fatalf("::/0: %v", out)
	}
	out = m.mustCall("ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "lan", "SecurityIps": "10.0.0.0/8"})
	if _, ok := out["MoatWarnings"]; ok {
		t.Fatalf("an ordinary change warned: %v", out)
	}
}

// A V3 (ACS3-HMAC-SHA256) request, as the Tea/darabonba SDKs send by default, is accepted; a wrong
// secret is not.
func TestV3Signature(t *testing.T) {
	m := startMoat(t)
	var extra url.Values // more query parameters, signed with the rest
	twice := false       // x-acs-action sent twice (DeleteInstance after it), both signed
	send := func(secret, nonce string) (int, []byte) {
		t.Helper()
		query := url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"tea"}, "ModifyMode": {"Append"}, "SecurityIps": {"10.7.0.1,192.168.0.0/24"}}
		for k, v := range extra {
			query[k] = v
		}
		hr, _ := http.NewRequest("POST", "http://"+m.api+"/?"+query.Encode(), nil)
		hr.Header.Set("x-acs-action", "ModifySecurityIps")
		if twice {
			hr.Header.Add("x-acs-action", "DeleteInstance")
		}
		hr.Header.Set("x-acs-version", "2015-01-01")
		hr.Header.Set("x-acs-date", time.Now().UTC().Format(sign.TimeFormat))
		hr.Header.Set("x-acs-signature-nonce", nonce)
		sum := sha256.Sum256(nil)
		hr.Header.Set("x-acs-content-sha256", hex.EncodeToString(sum[:]))
		signed := []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"}
		h := hr.Header.Clone()
		h.Set("Host", m.api)
		canonical := sign.CanonicalRequestV3(&sign.Request{Method: "POST", Path: "/", Query: query, Header: h}, signed)
		ch := sha256.Sum256([]byte(canonical))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(ch[:])))
		hr.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential="+m.keyID+",SignedHeaders="+strings.Join(signed, ";")+",Signature="+hex.EncodeToString(mac.Sum(nil)))
		return m.send(hr, "")
	}
	status, body := send(m.secret+"x", sign.NewNonce())
	wantErrorJSON(t, status, body, 400, "SignatureDoesNotMatch")
	if status, body := send(m.secret, sign.NewNonce()); status != 200 {
		t.Fatalf("V3 request: HTTP %d %s", status, body)
	}
	g := m.groups(m.inst)
	if last := g[len(g)-1]; last.SecurityIpGroupName != "tea" || last.SecurityIpList != "10.7.0.1,192.168.0.0/24" {
		t.Fatalf("after the V3 call: %+v", g)
	}
	// The header says ModifySecurityIps, the query another action (both signed): refused, nothing done,
	// so that a proxy filtering on the header cannot be walked past.
	for _, q := range []url.Values{{"Action": {"DeleteInstance"}}, {"Version": {"2099-01-01"}}} {
		extra = q
		status, body := send(m.secret, sign.NewNonce())
		wantErrorJSON(t, status, body, 400, "InvalidParameter.Duplicate")
	}
	if status, out := m.call("DescribeInstanceAttribute", map[string]string{"InstanceId": m.inst}); status != 200 {
		t.Fatalf("the instance after the conflicting calls: HTTP %d %v", status, out)
	}
	// The header twice, with the same value as the signed one first: refused as well.
	extra, twice = nil, true
	status, body = send(m.secret, sign.NewNonce())
	wantErrorJSON(t, status, body, 400, "InvalidParameter.Duplicate")
	twice = false
	extra = url.Values{"Action": {"ModifySecurityIps"}, "ModifyMode": {"Cover"}} // the same value twice is one
	if status, body := send(m.secret, sign.NewNonce()); status != 200 {
		t.Fatalf("V3 request with Action in both: HTTP %d %s", status, body)
	}
}
