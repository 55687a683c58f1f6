package api_test

import (
	"encoding/json"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	kvstore "github.com/aliyun/alibaba-cloud-sdk-go/services/r-kvstore"

	"github.com/moat-dev/moat/internal/redistest"
)

// auditOf returns the audit records of one action: its changes, newest first, then its failed calls.
func (m *moat) auditOf(action string) []map[string]any {
	m.t.Helper()
	var list []map[string]any
	for _, log := range []string{"Changes", "FailedCalls"} {
		out := m.commonJSON(m.common("DescribeAuditLogs", map[string]string{"ActionName": action, "PageSize": "100", "LogType": log}))
		for _, e := range out["AuditLogs"].(map[string]any)["AuditLog"].([]any) {
			list = append(list, e.(map[string]any))
		}
	}
	return list
}

// countResult counts the calls with the given result ("ok", "error"): a failed-call record counts its
// repeats.
func countResult(entries []map[string]any, result string) int {
	n := 0
	for _, e := range entries {
		if e["result"] != result {
			continue
		}
		if c, ok := e["count"].(float64); ok {
			n += int(c)
		} else {
			n++
		}
	}
	return n
}

// sgNameDesc is a group's name and description as the SDK's typed DescribeSecurityGroups reads them.
func (m *moat) sgNameDesc(id string) (string, string) {
	m.t.Helper()
	req := at(m, ecs.CreateDescribeSecurityGroupsRequest())
	req.SecurityGroupIds = `["` + id + `"]`
	resp, err := m.ecsClient().DescribeSecurityGroups(req)
	if err != nil || resp.TotalCount != 1 {
		m.t.Fatalf("DescribeSecurityGroups %s: %v %+v", id, err, resp)
	}
	g := resp.SecurityGroups.SecurityGroup[0]
	return g.SecurityGroupName, g.Description
}

// ModifySecurityGroupAttribute with the SDK's typed call: the change is what DescribeSecurityGroups
// shows; a bad name or description is refused with its code and changes neither field; every call is
// audited (changes with the state before and after, refusals as errors).
func TestSDKModifySecurityGroupAttribute(t *testing.T) {
	m := startMoat(t)
	c := m.ecsClient()
	creq := at(m, ecs.CreateCreateSecurityGroupRequest())
	creq.SecurityGroupName, creq.Description = "app-servers", "the app tier"
	cresp, err := c.CreateSecurityGroup(creq)
	if err != nil {
		t.Fatal(err)
	}
	sg := cresp.SecurityGroupId

	modify := func(name, desc string) error {
		req := at(m, ecs.CreateModifySecurityGroupAttributeRequest())
		req.SecurityGroupId, req.SecurityGroupName, req.Description = sg, name, desc
		resp, err := c.ModifySecurityGroupAttribute(req)
		if err == nil && resp.RequestId == "" {
			t.Fatalf("ModifySecurityGroupAttribute answered without RequestId: %s", resp.GetHttpContentString())
		}
		return err
	}
	if err := modify("app-tier", "front end"); err != nil {
		t.Fatal(err)
	}
	if n, d := m.sgNameDesc(sg); n != "app-tier" || d != "front end" {
		t.Fatalf("after renaming: name %q description %q", n, d)
	}
	// The SDK leaves an empty field out: only the description changes.
	if err := modify("", "web and api"); err != nil {
		t.Fatal(err)
	}
	if n, d := m.sgNameDesc(sg); n != "app-tier" || d != "web and api" {
		t.Fatalf("after changing only the description: name %q description %q", n, d)
	}
	// Filtering by the new name finds it; by the old one, nothing.
	for name, want := range map[string]int{"app-tier": 1, "app-servers": 0} {
		req := at(m, ecs.CreateDescribeSecurityGroupsRequest())
		req.SecurityGroupName = name
		if resp, err := c.DescribeSecurityGroups(req); err != nil || resp.TotalCount != want {
			t.Fatalf("DescribeSecurityGroups SecurityGroupName=%s: %v %+v", name, err, resp)
		}
	}

	// Refusals, each with a code naming the field; a bad name beside a good description changes neither.
	for _, b := range []struct{ name, desc, code, named string }{
		{"x", "", "InvalidName.Malformed", `"x"`},
		{"http://app", "", "InvalidName.Malformed", `"http://app"`},
		{strings.Repeat("n", 129), "", "InvalidName.Malformed", "nnnn"},
		{"x", "a good description", "InvalidName.Malformed", `"x"`},
		{"good-name", "https://example.com", "InvalidDescription.Malformed", `"https://example.com"`},
		{"good-name", "d", "InvalidDescription.Malformed", `"d"`},
	} {
		se := wantSDKError(t, modify(b.name, b.desc), 400, b.code)
		if !strings.Contains(se.Message(), b.named) {
			t.Errorf("%q/%q: the message names the input: %s", b.name, b.desc, se.Message())
		}
		if n, d := m.sgNameDesc(sg); n != "app-tier" || d != "web and api" {
			t.Fatalf("refused %q/%q changed the group: name %q description %q", b.name, b.desc, n, d)
		}
	}
	req := at(m, ecs.CreateModifySecurityGroupAttributeRequest())
	req.SecurityGroupId, req.SecurityGroupName = "sg-nosuch", "other"
	_, err = c.ModifySecurityGroupAttribute(req)
	wantSDKError(t, err, 404, "InvalidSecurityGroupId.NotFound")

	// Audited: the two changes with before and after, newest first; the seven refusals as errors.
	logs := m.auditOf("ModifySecurityGroupAttribute")
	if ok := countResult(logs, "ok"); ok != 2 || countResult(logs, "error") != 7 {
		t.Fatalf("audit: %d ok, %d error entries, want 2 and 7: %v", ok, countResult(logs, "error"), logs)
	}
	var changes []map[string]any
	for _, e := range logs {
		if e["result"] == "ok" {
			changes = append(changes, e)
		}
	}
	first, second := changes[1], changes[0]
	before, _ := first["before"].(map[string]any)
	after, _ := first["after"].(map[string]any)
	if first["resource"] != sg || before["name"] != "app-servers" || after["name"] != "app-tier" || after["description"] != "front end" {
		t.Fatalf("audit of the rename: %v", first)
	}
	if after, _ := second["after"].(map[string]any); after["name"] != "app-tier" || after["description"] != "web and api" {
		t.Fatalf("audit of the description change: %v", second)
	}
	for _, e := range logs {
		if e["result"] == "error" && (e["error"] == "" || e["error"] == nil) {
			t.Errorf("a refusal is audited without its reason: %v", e)
		}
	}
}

// The binding calls through the SDK's typed R-kvstore calls (services/r-kvstore): the typed response
// reads the reference's shape, and typed refusals carry the reference's codes and change nothing.
func TestSDKTypedBinding(t *testing.T) {
	m := startMoat(t)
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "VpcId": "vpc-app"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-ops"})
	kv := m.kvClient()

	modify := func(inst, sgs string) error {
		req := at(m, kvstore.CreateModifySecurityGroupConfigurationRequest())
		req.DBInstanceId, req.SecurityGroupId = inst, sgs
		_, err := kv.ModifySecurityGroupConfiguration(req)
		return err
	}
	if err := modify(m.inst, "sg-app,sg-ops"); err != nil {
		t.Fatal(err)
	}
	req := at(m, kvstore.CreateDescribeSecurityGroupConfigurationRequest())
	req.InstanceId = m.inst
	resp, err := kv.DescribeSecurityGroupConfiguration(req)
	if err != nil {
		t.Fatal(err)
	}
	rels := resp.Items.EcsSecurityGroupRelation
	if len(rels) != 2 || rels[0] != (kvstore.EcsSecurityGroupRelation{SecurityGroupId: "sg-app", RegionId: "cn-hangzhou", NetType: "vpc"}) ||
		rels[1] != (kvstore.EcsSecurityGroupRelation{SecurityGroupId: "sg-ops", RegionId: "cn-hangzhou", NetType: "classic"}) {
		t.Fatalf("typed DescribeSecurityGroupConfiguration: %+v", rels)
	}

	// Typed refusals: each with its code, and the binding stays as it was.
	var eleven []string
	for i := 0; i < 11; i++ {
		eleven = append(eleven, "sg-app")
	}
	m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-old", "Listen": "127.0.0.1:0", "EngineVersion": "3.0"})
	for _, b := range []struct {
		inst, sgs string
		status    int
		code      string
	}{
		{m.inst, "sg-nosuch", 400, "InvalidParam"},
		{m.inst, strings.Join(eleven, ","), 400, "AssociatedEcsSecurityGroupIdQuotaExceed"},
		{"r-nosuch", "sg-app", 404, "InvalidInstanceId.NotFound"},
		{"r-old", "sg-app", 400, "EngineNotSupported"},
		// The typed call cannot unbind: the SDK drops the empty SecurityGroupId, so moat sees none.
		{m.inst, "", 400, "MissingParameter"},
	} {
		wantSDKError(t, modify(b.inst, b.sgs), b.status, b.code)
		if ids, _ := m.bound(m.inst); strings.Join(ids, ",") != "sg-app,sg-ops" {
			t.Fatalf("refused %s %q changed the binding: %v", b.inst, b.sgs, ids)
		}
	}
	if ids, _ := m.bound("r-old"); len(ids) != 0 {
		t.Fatalf("refused binding of r-old: %v", ids)
	}
	req = at(m, kvstore.CreateDescribeSecurityGroupConfigurationRequest())
	req.InstanceId = "r-nosuch"
	_, err = kv.DescribeSecurityGroupConfiguration(req)
	wantSDKError(t, err, 404, "InvalidInstanceId.NotFound")
}

// ecsForm is an ECS CommonRequest sent as a POST form (a desired-state document is too large for a URL).
func (m *moat) ecsForm(action string, form map[string]string) *requests.CommonRequest {
	r := m.ecsCommon(action, nil)
	r.Method = requests.POST
	for k, v := range form {
		r.FormParams[k] = v
	}
	return r
}

// planOf returns the Plan of a PlanSecurityGroups or ApplySecurityGroups answer.
func planOf(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	p, ok := out["Plan"].(map[string]any)
	if !ok {
		t.Fatalf("answer without a Plan: %v", out)
	}
	return p
}

// planGroups returns a plan's groups (none when it changes nothing).
func planGroups(p map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := p["groups"].([]any)
	for _, g := range list {
		out = append(out, g.(map[string]any))
	}
	return out
}

// exported is ExportSecurityGroups' answer as a desired-state document.
func (m *moat) exported() (string, map[string]any) {
	m.t.Helper()
	out := m.ecsJSON("ExportSecurityGroups", nil)
	b, err := json.Marshal(map[string]any{"security_groups": out["security_groups"]})
	if err != nil {
		m.t.Fatal(err)
	}
	var doc map[string]any
	json.Unmarshal(b, &doc)
	return string(b), doc
}

// Batch management through the SDK's CommonRequest (moat's own actions under 2014-05-26): an export
// planned again changes nothing; a desired state with changes is planned (nothing applied), applied
// (DescribeSecurityGroupAttribute and real connections show it), and rendered for hosts as nftables; a
// bad desired state is refused with every problem named and changes nothing.
func TestSDKBatchSecurityGroups(t *testing.T) {
	m := startMoat(t)
	c := m.ecsClient()
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-web1", "PrivateIpAddress": "127.0.0.31"})
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-job1", "PrivateIpAddress": "127.0.0.32"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "SecurityGroupName": "app"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-ops", "SecurityGroupName": "ops"})
	m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	m.ecsJSON("AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "IpProtocol": "tcp", "PortRange": "22/22",
		"SourceCidrIp": "192.168.0.0/16", "Description": "ssh"})
	m.bind(m.inst, "sg-app")
	if got := redis(t, m.listen, "127.0.0.32", "PING"); got != illegal {
		t.Fatalf("i-job1 before it joins: %q", got)
	}

	// An export planned again shows no change.
	doc, parsed := m.exported()
	p := planOf(t, m.commonJSON(m.ecsForm("PlanSecurityGroups", map[string]string{"Desired": doc})))
	if len(planGroups(p)) != 0 || p["Add"] != 0.0 || p["Remove"] != 0.0 || p["Change"] != 0.0 || p["Join"] != 0.0 || p["Leave"] != 0.0 {
		t.Fatalf("plan of an export: %v", p)
	}

	// The desired state: sg-app renamed, its ssh rule redescribed, a redis rule added, i-job1 joining.
	groups := parsed["security_groups"].([]any)
	app := groups[0].(map[string]any)
	if app["id"] != "sg-app" {
		t.Fatalf("export order: %v", groups)
	}
	app["name"] = "app-tier"
	app["members"] = []any{"i-web1", "i-job1"}
	ssh := app["rules"].([]any)[0].(map[string]any)
	ssh["description"] = "ssh from the office"
	app["rules"] = append(app["rules"].([]any), map[string]any{"direction": "ingress", "protocol": "tcp",
		"port_range": "6379/6379", "cidr": "10.9.0.0/16", "policy": "accept", "priority": 5, "nic_type": "intranet", "description": "redis"})
	b, _ := json.Marshal(parsed)
	want := string(b)

	p = planOf(t, m.commonJSON(m.ecsForm("PlanSecurityGroups", map[string]string{"Desired": want})))
	pg := planGroups(p)
	if len(pg) != 1 || pg[0]["id"] != "sg-app" || p["Add"] != 1.0 || p["Change"] != 2.0 || p["Join"] != 1.0 || p["Remove"] != 0.0 {
		t.Fatalf("plan: %v", p)
	}
	g := pg[0]
	added := g["added_rules"].([]any)[0].(map[string]any)
	changed := g["changed_rules"].([]any)[0].(map[string]any)
	if added["cidr"] != "10.9.0.0/16" || added["port_range"] != "6379/6379" || added["id"] != "" ||
		changed["before"].(map[string]any)["description"] != "ssh" || changed["after"].(map[string]any)["description"] != "ssh from the office" ||
		strings.Join(strs(g["renamed"]), ">") != "app>app-tier" || strings.Join(strs(g["joined"]), ",") != "i-job1" ||
		strings.Join(strs(g["instances"]), ",") != m.inst {
		t.Fatalf("plan of sg-app: %v", g)
	}
	// Planning changed nothing.
	if now, _ := m.exported(); now != doc {
		t.Fatalf("planning changed the stored state:\n%s\n%s", doc, now)
	}
	if got := redis(t, m.listen, "127.0.0.32", "PING"); got != illegal {
		t.Fatalf("i-job1 after planning only: %q", got)
	}

	// Apply: the same change set, with the new rule's ID.
	p = planOf(t, m.commonJSON(m.ecsForm("ApplySecurityGroups", map[string]string{"Desired": want})))
	pg = planGroups(p)
	if len(pg) != 1 || p["Add"] != 1.0 || p["Change"] != 2.0 || p["Join"] != 1.0 {
		t.Fatalf("applied plan: %v", p)
	}
	newID, _ := pg[0]["added_rules"].([]any)[0].(map[string]any)["id"].(string)
	if !strings.HasPrefix(newID, "sgr-") {
		t.Fatalf("applied rule without an ID: %v", pg[0])
	}
	areq := at(m, ecs.CreateDescribeSecurityGroupAttributeRequest())
	areq.SecurityGroupId = "sg-app"
	attr, err := c.DescribeSecurityGroupAttribute(areq)
	if err != nil {
		t.Fatal(err)
	}
	perms := attr.Permissions.Permission
	if attr.SecurityGroupName != "app-tier" || len(perms) != 2 || perms[0].Description != "ssh from the office" ||
		perms[1].SecurityGroupRuleId != newID || perms[1].SourceCidrIp != "10.9.0.0/16" || perms[1].PortRange != "6379/6379" || perms[1].Priority != "5" {
		t.Fatalf("DescribeSecurityGroupAttribute after apply: %s %+v", attr.SecurityGroupName, perms)
	}
	if got := redis(t, m.listen, "127.0.0.32", "PING"); got != "+PONG" {
		t.Fatalf("i-job1 joined by apply, on the bound instance: %q", got)
	}
	if again := planOf(t, m.commonJSON(m.ecsForm("PlanSecurityGroups", map[string]string{"Desired": want}))); len(planGroups(again)) != 0 {
		t.Fatalf("the applied state planned again: %v", again)
	}
	if logs := m.auditOf("ApplySecurityGroups"); countResult(logs, "ok") != 1 {
		t.Fatalf("apply audit: %v", logs)
	}

	// Render for hosts: an nftables ruleset with the group's semantics and the applied rule.
	status, body := m.do("RenderSecurityGroup", rawRequest{Params: url.Values{"Version": {"2014-05-26"},
		"SecurityGroupId": {"sg-app"}, "RulesetFormat": {"nftables"}}})
	if status != 200 {
		t.Fatalf("RenderSecurityGroup: HTTP %d %s", status, body)
	}
	checkRuleset(t, body, "ip saddr 10.9.0.0/16 tcp dport 6379 accept", "ip saddr 192.168.0.0/16 tcp dport 22 accept", newID)

	// A bad desired state: every problem named, refused by plan and apply alike, nothing changed.
	before, _ := m.exported()
	bad := `{"security_groups": [
		{"id": "sg-app", "members": ["i-web1", "i-nosuch"], "rules": [
			{"direction": "ingress", "protocol": "sctp", "port_range": "1/2", "cidr": "10.0.0.0/8"},
			{"direction": "ingress", "protocol": "tcp", "port_range": "6379/6379", "cidr": "10.0.0.5/8"}]},
		{"id": "sg-ops", "name": "x", "members": ["i-job1"]},
		{"id": "Bad_ID"}]}`
	for _, action := range []string{"PlanSecurityGroups", "ApplySecurityGroups"} {
		_, err := m.admin().ProcessCommonRequest(m.ecsForm(action, map[string]string{"Desired": bad}))
		msg := wantSDKError(t, err, 400, "InvalidDesiredState").Message()
		for _, problem := range []string{"security_groups[0].members[1]", `"i-nosuch"`, "security_groups[0].rules[0]",
			"security_groups[0].rules[1]", "security_groups[1].name", "security_groups[2].id"} {
			if !strings.Contains(msg, problem) {
				t.Errorf("%s: the refusal does not name %s: %s", action, problem, msg)
			}
		}
	}
	for _, doc := range []string{`{"security_groups": [{"id": "sg-app", "colour": "red"}]}`, `{"security_groups": `} {
		_, err := m.admin().ProcessCommonRequest(m.ecsForm("ApplySecurityGroups", map[string]string{"Desired": doc}))
		wantSDKError(t, err, 400, "InvalidDesiredState")
	}
	m.ecsErr("ApplySecurityGroups", nil, 400, "MissingParameter")
	if after, _ := m.exported(); after != before {
		t.Fatalf("a refused apply changed the stored state:\n%s\n%s", before, after)
	}
	if got := redis(t, m.listen, "127.0.0.32", "PING"); got != "+PONG" {
		t.Fatalf("a refused apply changed access: %q", got)
	}
	if logs := m.auditOf("ApplySecurityGroups"); countResult(logs, "ok") != 1 || countResult(logs, "error") != 4 {
		t.Fatalf("refused applies are audited as errors, and only as errors: %v", logs)
	}
}

// checkRuleset checks a RenderSecurityGroup answer: an nftables ruleset for sg-app, stateful, inbound
// denied by default, with the given rule statements; nft itself checks it where it can.
func checkRuleset(t *testing.T, body []byte, want ...string) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("RenderSecurityGroup: %v in %s", err, body)
	}
	rs, _ := out["Ruleset"].(string)
	if out["RulesetFormat"] != "nftables" || out["SecurityGroupId"] != "sg-app" {
		t.Fatalf("RenderSecurityGroup: %v", out)
	}
	for _, line := range append([]string{"table inet ", "policy drop;", "ct state established,related accept"}, want...) {
		if !strings.Contains(rs, line) {
			t.Errorf("ruleset lacks %q:\n%s", line, rs)
		}
	}
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Logf("no nft here: the ruleset is checked as text only")
		return
	}
	cmd := exec.Command(nft, "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(rs)
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "Operation not permitted") {
			t.Logf("nft -c cannot run here (%v): the ruleset is checked as text only", err)
			return
		}
		t.Errorf("nft -c refuses the ruleset: %v\n%s\n%s", err, b, rs)
	}
}

// RenderSecurityGroup through the SDK's CommonRequest returns the ruleset. Its parameter is RulesetFormat:
// the SDK overwrites Format, the protocol's answer format, with JSON on every call.
func TestSDKRenderSecurityGroup(t *testing.T) {
	m := startMoat(t)
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app"})
	m.ecsJSON("AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "IpProtocol": "tcp", "PortRange": "6379/6379",
		"SourceCidrIp": "10.9.0.0/16"})
	resp, err := m.admin().ProcessCommonRequest(m.ecsCommon("RenderSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "RulesetFormat": "nftables"}))
	if err != nil {
		t.Fatalf("RenderSecurityGroup RulesetFormat=nftables through the SDK: %v", err)
	}
	checkRuleset(t, resp.GetHttpContentBytes(), "ip saddr 10.9.0.0/16 tcp dport 6379 accept")
	m.ecsErr("RenderSecurityGroup", map[string]string{"SecurityGroupId": "sg-nosuch", "RulesetFormat": "nftables"}, 404, "InvalidSecurityGroupId.NotFound")
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

// SG4 with real connections: a group's rules never affect who may connect to an instance. A member is
// admitted; drop rules naming its address, the instance's port, or everyone do not refuse it (new
// connections or an open one); an accept rule for a non-member does not admit it. Membership alone
// decides: the member leaves and is refused.
func TestRulesNeverAffectInstanceAccess(t *testing.T) {
	m := startMoat(t)
	_, port, err := net.SplitHostPort(m.listen)
	if err != nil {
		t.Fatal(err)
	}
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-web1", "PrivateIpAddress": "127.0.0.41", "PublicIpAddress": "127.0.0.42"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app"})
	m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	m.bind(m.inst, "sg-app")
	for src, want := range map[string]string{"127.0.0.41": "+PONG", "127.0.0.42": "+PONG", "127.0.0.43": illegal} {
		if got := redis(t, m.listen, src, "PING"); got != want {
			t.Fatalf("before any rule: %s → %q, want %q", src, got, want)
		}
	}
	open := redistest.DialFrom(t, m.listen, "127.0.0.41")
	if got := open.Do("PING"); got != "+PONG" {
		t.Fatalf("open session: %q", got)
	}

	c := m.ecsClient()
	areq := at(m, ecs.CreateAuthorizeSecurityGroupRequest())
	areq.SecurityGroupId = "sg-app"
	areq.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{
		{IpProtocol: "tcp", PortRange: port + "/" + port, SourceCidrIp: "127.0.0.41", Policy: "drop", Priority: "1", Description: "the instance's port"},
		{IpProtocol: "all", PortRange: "-1/-1", SourceCidrIp: "127.0.0.42/32", Policy: "drop", Priority: "1"},
		{IpProtocol: "tcp", PortRange: "1/65535", SourceCidrIp: "0.0.0.0/0", Policy: "drop", Priority: "100"},
		{IpProtocol: "tcp", PortRange: port + "/" + port, SourceCidrIp: "127.0.0.43", Policy: "accept", Priority: "1"},
	}
	if _, err := c.AuthorizeSecurityGroup(areq); err != nil {
		t.Fatal(err)
	}
	ereq := at(m, ecs.CreateAuthorizeSecurityGroupEgressRequest())
	ereq.SecurityGroupId, ereq.IpProtocol, ereq.PortRange, ereq.DestCidrIp, ereq.Policy = "sg-app", "all", "-1/-1", "0.0.0.0/0", "drop"
	if _, err := c.AuthorizeSecurityGroupEgress(ereq); err != nil {
		t.Fatal(err)
	}
	dreq := at(m, ecs.CreateDescribeSecurityGroupAttributeRequest())
	dreq.SecurityGroupId = "sg-app"
	if attr, err := c.DescribeSecurityGroupAttribute(dreq); err != nil || len(attr.Permissions.Permission) != 5 {
		t.Fatalf("the rules are stored: %v %+v", err, attr)
	}

	for src, want := range map[string]string{"127.0.0.41": "+PONG", "127.0.0.42": "+PONG", "127.0.0.43": illegal} {
		if got := redis(t, m.listen, src, "PING"); got != want {
			t.Errorf("with drop rules for it: %s → %q, want %q", src, got, want)
		}
		out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src})
		if out["Allowed"] != (want == "+PONG") {
			t.Errorf("CheckAccess(%s) with drop rules: %v", src, out)
		}
	}
	if got := open.Do("PING"); got != "+PONG" {
		t.Errorf("the open session after the drop rules: %q", got)
	}
	out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "127.0.0.41"})
	if !strings.Contains(out["Reason"].(string), `security group "sg-app" host "i-web1"`) {
		t.Errorf("CheckAccess names the membership, not a rule: %v", out)
	}

	// Membership decides: the host leaves and is refused, though an accept rule names it.
	m.ecsJSON("AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "IpProtocol": "all", "SourceCidrIp": "127.0.0.41", "Priority": "1"})
	m.ecsJSON("LeaveSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	if got := redis(t, m.listen, "127.0.0.41", "PING"); got != illegal {
		t.Fatalf("after leaving, with an accept rule for it: %q", got)
	}
}
