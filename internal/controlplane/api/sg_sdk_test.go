package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	kvstore "github.com/aliyun/alibaba-cloud-sdk-go/services/r-kvstore"
)

// ecsClient is the SDK's ECS client with the administrator key.
func (m *moat) ecsClient() *ecs.Client {
	m.t.Helper()
	c, err := ecs.NewClientWithAccessKey("cn-hangzhou", m.keyID, m.secret)
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// ecsCommon is a CommonRequest for an ECS 2014-05-26 action (moat's own, or one the SDK has no type for).
func (m *moat) ecsCommon(action string, query map[string]string) *requests.CommonRequest {
	r := m.common(action, query)
	r.Product, r.Version = "Ecs", "2014-05-26"
	return r
}

// ecsJSON sends an ECS CommonRequest with the admin key and decodes the answer; it must succeed.
func (m *moat) ecsJSON(action string, query map[string]string) map[string]any {
	m.t.Helper()
	return m.commonJSON(m.ecsCommon(action, query))
}

// ecsErr sends an ECS CommonRequest that must fail with status and code.
func (m *moat) ecsErr(action string, query map[string]string, status int, code string) {
	m.t.Helper()
	_, err := m.admin().ProcessCommonRequest(m.ecsCommon(action, query))
	wantSDKError(m.t, err, status, code)
}

// kvErr sends an R-kvstore CommonRequest that must fail with status and code; it returns the message.
func (m *moat) kvErr(action string, query map[string]string, status int, code string) string {
	m.t.Helper()
	_, err := m.admin().ProcessCommonRequest(m.common(action, query))
	return wantSDKError(m.t, err, status, code).Message()
}

// kvClient is the SDK's R-kvstore client from services/r-kvstore (package r_kvstore), which, unlike
// services/r_kvstore, has the typed security-group binding calls; administrator key.
func (m *moat) kvClient() *kvstore.Client {
	m.t.Helper()
	c, err := kvstore.NewClientWithAccessKey("cn-hangzhou", m.keyID, m.secret)
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// bind is the SDK's typed ModifySecurityGroupConfiguration (by DBInstanceId; it must succeed). The typed
// call cannot unbind every group: the SDK leaves out string fields that are empty, so moat would see no
// SecurityGroupId (TestSDKTypedBinding shows the refusal); bind(inst, "") sends it present but empty
// through a CommonRequest, which moat reads as "unbind every group".
func (m *moat) bind(inst, sgs string) {
	m.t.Helper()
	if sgs == "" {
		m.commonJSON(m.common("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": inst, "SecurityGroupId": ""}))
		return
	}
	req := at(m, kvstore.CreateModifySecurityGroupConfigurationRequest())
	req.DBInstanceId, req.SecurityGroupId = inst, sgs
	resp, err := m.kvClient().ModifySecurityGroupConfiguration(req)
	if err != nil || resp.RequestId == "" {
		m.t.Fatalf("ModifySecurityGroupConfiguration %s %q: %v %+v", inst, sgs, err, resp)
	}
}

// bound is the SDK's typed DescribeSecurityGroupConfiguration (by InstanceId): the bound groups' IDs as
// the SDK reads them, and the raw JSON answer, for checks of its shape. The two must agree.
func (m *moat) bound(inst string) ([]string, map[string]any) {
	m.t.Helper()
	req := at(m, kvstore.CreateDescribeSecurityGroupConfigurationRequest())
	req.InstanceId = inst
	resp, err := m.kvClient().DescribeSecurityGroupConfiguration(req)
	if err != nil {
		m.t.Fatalf("DescribeSecurityGroupConfiguration %s: %v", inst, err)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil {
		m.t.Fatalf("DescribeSecurityGroupConfiguration: %v in %s", err, resp.GetHttpContentString())
	}
	var ids, raw []string
	for _, rel := range resp.Items.EcsSecurityGroupRelation {
		ids = append(ids, rel.SecurityGroupId)
	}
	for _, it := range out["Items"].(map[string]any)["EcsSecurityGroupRelation"].([]any) {
		raw = append(raw, it.(map[string]any)["SecurityGroupId"].(string))
	}
	if strings.Join(ids, ",") != strings.Join(raw, ",") || resp.RequestId == "" {
		m.t.Fatalf("the SDK read %v (RequestId %q) from %s", ids, resp.RequestId, resp.GetHttpContentString())
	}
	return ids, out
}

// Hosts and groups through the SDK: typed ECS calls where the SDK has them, typed R-kvstore binding
// calls (bind, bound), CommonRequest for moat's host registration.
func TestSDKHostsAndSecurityGroups(t *testing.T) {
	m := startMoat(t)
	c := m.ecsClient()

	out := m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-web1", "InstanceName": "web-1",
		"PrivateIpAddress": "10.0.1.5,10.0.1.6", "PublicIpAddress": "203.0.113.4", "VpcId": "vpc-app"})
	if out["InstanceId"] != "i-web1" {
		t.Fatalf("CreateHost: %v", out)
	}
	out = m.ecsJSON("CreateHost", map[string]string{"InstanceName": "job-1", "PrivateIpAddress": "10.0.2.9"})
	job, _ := out["InstanceId"].(string)
	if !strings.HasPrefix(job, "i-") {
		t.Fatalf("CreateHost without an ID: %v", out)
	}
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "eci-batch1", "PrivateIpAddress": "10.0.3.3"})
	m.ecsErr("CreateHost", map[string]string{"InstanceId": "i-web1", "PrivateIpAddress": "10.0.9.9"}, 400, "InvalidInstanceId.Duplicate")
	m.ecsErr("CreateHost", map[string]string{"InstanceId": "i-bad", "PrivateIpAddress": "10.0.0.0/24"}, 400, "InvalidIpAddress.Malformed")
	m.ecsErr("CreateHost", map[string]string{"InstanceId": "x-bad", "PrivateIpAddress": "10.0.0.1"}, 400, "InvalidInstanceId.Malformed")
	m.ecsErr("CreateHost", map[string]string{"InstanceId": "i-noip"}, 400, "InvalidIpAddress.Malformed")

	// DescribeInstances under 2014-05-26 lists hosts, with the SDK's own types…
	hreq := at(m, ecs.CreateDescribeInstancesRequest())
	hresp, err := c.DescribeInstances(hreq)
	if err != nil {
		t.Fatal(err)
	}
	if hresp.TotalCount != 3 || len(hresp.Instances.Instance) != 3 {
		t.Fatalf("DescribeInstances (ECS): %+v", hresp.Instances.Instance)
	}
	var web ecs.Instance
	for _, h := range hresp.Instances.Instance {
		if h.InstanceId == "i-web1" {
			web = h
		}
	}
	if web.InstanceName != "web-1" || strings.Join(web.VpcAttributes.PrivateIpAddress.IpAddress, ",") != "10.0.1.5,10.0.1.6" ||
		strings.Join(web.PublicIpAddress.IpAddress, ",") != "203.0.113.4" || web.VpcAttributes.VpcId != "vpc-app" || web.Status != "Running" {
		t.Fatalf("host i-web1 as the SDK reads it: %+v", web)
	}
	// …and under 2015-01-01 it is still R-kvstore's instance list.
	if got := m.mustCall("DescribeInstances", nil)["Instances"].(map[string]any)["KVStoreInstance"].([]any); len(got) != 1 {
		t.Fatalf("R-kvstore DescribeInstances: %v", got)
	}
	hreq = at(m, ecs.CreateDescribeInstancesRequest())
	hreq.InstanceIds = `["i-web1","eci-batch1"]`
	if hresp, err = c.DescribeInstances(hreq); err != nil || hresp.TotalCount != 2 {
		t.Fatalf("DescribeInstances InstanceIds: %v %+v", err, hresp)
	}
	hreq = at(m, ecs.CreateDescribeInstancesRequest())
	hreq.InstanceName = "web*"
	if hresp, err = c.DescribeInstances(hreq); err != nil || hresp.TotalCount != 1 || hresp.Instances.Instance[0].InstanceId != "i-web1" {
		t.Fatalf("DescribeInstances InstanceName=web*: %v %+v", err, hresp)
	}

	// Groups.
	creq := at(m, ecs.CreateCreateSecurityGroupRequest())
	creq.SecurityGroupName, creq.Description, creq.VpcId = "app-servers", "the app tier", "vpc-app"
	cresp, err := c.CreateSecurityGroup(creq)
	if err != nil || !strings.HasPrefix(cresp.SecurityGroupId, "sg-") {
		t.Fatalf("CreateSecurityGroup: %v %+v", err, cresp)
	}
	app := cresp.SecurityGroupId
	ops := m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-ops", "SecurityGroupName": "ops"})["SecurityGroupId"]
	if ops != "sg-ops" {
		t.Fatalf("CreateSecurityGroup with moat's SecurityGroupId: %v", ops)
	}
	for _, host := range []string{"i-web1", job} {
		jreq := at(m, ecs.CreateJoinSecurityGroupRequest())
		jreq.SecurityGroupId, jreq.InstanceId = app, host
		if _, err := c.JoinSecurityGroup(jreq); err != nil {
			t.Fatalf("JoinSecurityGroup %s: %v", host, err)
		}
	}
	jreq := at(m, ecs.CreateJoinSecurityGroupRequest())
	jreq.SecurityGroupId, jreq.InstanceId = app, "i-web1"
	_, err = c.JoinSecurityGroup(jreq)
	wantSDKError(t, err, 403, "InvalidInstanceId.AlreadyExists")
	jreq = at(m, ecs.CreateJoinSecurityGroupRequest())
	jreq.SecurityGroupId, jreq.InstanceId = app, "i-nosuch"
	_, err = c.JoinSecurityGroup(jreq)
	wantSDKError(t, err, 404, "InvalidInstanceId.NotFound")
	jreq = at(m, ecs.CreateJoinSecurityGroupRequest())
	jreq.SecurityGroupId, jreq.InstanceId = "sg-nosuch", "i-web1"
	_, err = c.JoinSecurityGroup(jreq)
	wantSDKError(t, err, 404, "InvalidSecurityGroupId.NotFound")

	dreq := at(m, ecs.CreateDescribeSecurityGroupsRequest())
	dresp, err := c.DescribeSecurityGroups(dreq)
	if err != nil || dresp.TotalCount != 2 {
		t.Fatalf("DescribeSecurityGroups: %v %+v", err, dresp)
	}
	for _, g := range dresp.SecurityGroups.SecurityGroup {
		if g.SecurityGroupId == app && (g.SecurityGroupName != "app-servers" || g.EcsCount != 2 || g.VpcId != "vpc-app" || g.Description != "the app tier" || g.CreationTime == "") {
			t.Fatalf("DescribeSecurityGroups %s: %+v", app, g)
		}
	}
	dreq = at(m, ecs.CreateDescribeSecurityGroupsRequest())
	dreq.SecurityGroupName = "ops"
	if dresp, err = c.DescribeSecurityGroups(dreq); err != nil || dresp.TotalCount != 1 || dresp.SecurityGroups.SecurityGroup[0].SecurityGroupId != "sg-ops" {
		t.Fatalf("DescribeSecurityGroups SecurityGroupName=ops: %v %+v", err, dresp)
	}
	// Hosts show their groups; the SecurityGroupId filter lists members.
	hreq = at(m, ecs.CreateDescribeInstancesRequest())
	hreq.SecurityGroupId = app
	if hresp, err = c.DescribeInstances(hreq); err != nil || hresp.TotalCount != 2 || hresp.Instances.Instance[0].SecurityGroupIds.SecurityGroupId[0] != app {
		t.Fatalf("DescribeInstances SecurityGroupId: %v %+v", err, hresp)
	}

	// Binding (R-kvstore): Describe by InstanceId, Modify by DBInstanceId; the reference's shapes.
	if ids, out := m.bound(m.inst); len(ids) != 0 || out["Items"] == nil {
		t.Fatalf("DescribeSecurityGroupConfiguration of a new instance: %v", out)
	}
	m.bind(m.inst, app+",sg-ops")
	ids, out := m.bound(m.inst)
	rel := out["Items"].(map[string]any)["EcsSecurityGroupRelation"].([]any)[0].(map[string]any)
	if strings.Join(ids, ",") != app+",sg-ops" || rel["NetType"] != "vpc" || rel["RegionId"] != "cn-hangzhou" {
		t.Fatalf("DescribeSecurityGroupConfiguration: %v", out)
	}
	m.bind(m.inst, "sg-ops") // replaces the set
	if ids, _ := m.bound(m.inst); strings.Join(ids, ",") != "sg-ops" {
		t.Fatalf("after replacing: %v", ids)
	}
	m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"SecurityGroupId": "sg-ops"}, 400, "MissingParameter")
	m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": m.inst, "SecurityGroupId": "sg-nosuch"}, 400, "InvalidParam")
	m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": m.inst, "SecurityGroupId": "sg-ops,sg-ops"}, 400, "InvalidParam")
	m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": "r-nosuch", "SecurityGroupId": "sg-ops"}, 404, "InvalidInstanceId.NotFound")

	// Deleting a bound group is refused (moat's choice, see README); so is a group with members (ECS).
	delreq := at(m, ecs.CreateDeleteSecurityGroupRequest())
	delreq.SecurityGroupId = "sg-ops"
	_, err = c.DeleteSecurityGroup(delreq)
	if se := wantSDKError(t, err, 403, "DependencyViolation.BoundToInstance"); !strings.Contains(se.Message(), m.inst) {
		t.Fatalf("the refusal names the instance: %s", se.Message())
	}
	m.bind(m.inst, app)
	delreq = at(m, ecs.CreateDeleteSecurityGroupRequest())
	delreq.SecurityGroupId = "sg-ops"
	if _, err := c.DeleteSecurityGroup(delreq); err != nil {
		t.Fatalf("deleting an unbound group: %v", err)
	}
	m.bind(m.inst, "")
	delreq = at(m, ecs.CreateDeleteSecurityGroupRequest())
	delreq.SecurityGroupId = app
	_, err = c.DeleteSecurityGroup(delreq)
	wantSDKError(t, err, 403, "DependencyViolation")

	// Leave, ModifyHost, DeleteHost.
	lreq := at(m, ecs.CreateLeaveSecurityGroupRequest())
	lreq.SecurityGroupId, lreq.InstanceId = app, job
	if _, err := c.LeaveSecurityGroup(lreq); err != nil {
		t.Fatal(err)
	}
	lreq = at(m, ecs.CreateLeaveSecurityGroupRequest())
	lreq.SecurityGroupId, lreq.InstanceId = app, job
	_, err = c.LeaveSecurityGroup(lreq)
	wantSDKError(t, err, 403, "InvalidInstanceId.NotInSecurityGroup")
	out = m.ecsJSON("ModifyHost", map[string]string{"InstanceId": "i-web1", "PrivateIpAddress": "10.0.1.7", "PublicIpAddress": ""})
	if h := out["Instance"].(map[string]any); fmt.Sprint(h["VpcAttributes"].(map[string]any)["PrivateIpAddress"]) != "map[IpAddress:[10.0.1.7]]" ||
		fmt.Sprint(h["PublicIpAddress"]) != "map[IpAddress:[]]" {
		t.Fatalf("ModifyHost: %v", out)
	}
	m.ecsJSON("DeleteHost", map[string]string{"InstanceId": "i-web1"}) // leaves app too
	delreq = at(m, ecs.CreateDeleteSecurityGroupRequest())
	delreq.SecurityGroupId = app
	if _, err := c.DeleteSecurityGroup(delreq); err != nil {
		t.Fatalf("deleting the emptied group: %v", err)
	}
	m.ecsErr("DeleteHost", map[string]string{"InstanceId": "i-web1"}, 404, "InvalidInstanceId.NotFound")

	// Every change is audited in the same transaction, naming the resource.
	logs := m.commonJSON(m.common("DescribeAuditLogs", map[string]string{"PageSize": "40"}))["AuditLogs"].(map[string]any)["AuditLog"].([]any)
	seen := map[string]bool{}
	for _, e := range logs {
		e := e.(map[string]any)
		if e["result"] == "ok" {
			r, _ := e["resource"].(string)
			i, _ := e["instance"].(string)
			seen[fmt.Sprint(e["action"], " ", r, i)] = true
		}
	}
	for _, want := range []string{"CreateHost i-web1", "JoinSecurityGroup " + app, "DeleteSecurityGroup sg-ops",
		"ModifySecurityGroupConfiguration " + m.inst, "DeleteHost i-web1", "ModifyHost i-web1"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q: %v", want, seen)
		}
	}
}

// Rules with ECS semantics (SG5): flat fields and Permissions.N, validation, idempotent authorize,
// revoke by fields and by SecurityGroupRuleId.N, describe with the reference's shape, the egress twins.
func TestSDKSecurityGroupRules(t *testing.T) {
	m := startMoat(t)
	c := m.ecsClient()
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "SecurityGroupName": "app"})

	// Flat (legacy) fields, mixed case protocol and policy.
	areq := at(m, ecs.CreateAuthorizeSecurityGroupRequest())
	areq.SecurityGroupId, areq.IpProtocol, areq.PortRange, areq.SourceCidrIp = "sg-app", "TCP", "6379/6379", "10.0.0.0/8"
	areq.Policy, areq.Priority, areq.Description, areq.NicType = "Accept", "1", "redis", "intranet"
	if _, err := c.AuthorizeSecurityGroup(areq); err != nil {
		t.Fatal(err)
	}
	// Permissions.N, two rules.
	areq = at(m, ecs.CreateAuthorizeSecurityGroupRequest())
	areq.SecurityGroupId = "sg-app"
	areq.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{
		{IpProtocol: "tcp", PortRange: "22/22", SourceCidrIp: "192.168.0.0/16", Policy: "accept", Priority: "2", Description: "ssh"},
		{IpProtocol: "icmp", PortRange: "-1/-1", SourceCidrIp: "0.0.0.0/0", Policy: "drop", Priority: "100"},
	}
	if _, err := c.AuthorizeSecurityGroup(areq); err != nil {
		t.Fatal(err)
	}
	// The same rule again: success, nothing added (ECS).
	areq = at(m, ecs.CreateAuthorizeSecurityGroupRequest())
	areq.SecurityGroupId, areq.IpProtocol, areq.PortRange, areq.SourceCidrIp, areq.Description = "sg-app", "tcp", "6379/6379", "10.0.0.0/8", "other text"
	if _, err := c.AuthorizeSecurityGroup(areq); err != nil {
		t.Fatalf("duplicate authorize: %v", err)
	}
	// Egress twin, IPv6.
	ereq := at(m, ecs.CreateAuthorizeSecurityGroupEgressRequest())
	ereq.SecurityGroupId, ereq.IpProtocol, ereq.PortRange, ereq.Ipv6DestCidrIp, ereq.Policy = "sg-app", "all", "-1/-1", "2001:db8::/32", "drop"
	if _, err := c.AuthorizeSecurityGroupEgress(ereq); err != nil {
		t.Fatal(err)
	}

	describe := func(dir string) []ecs.Permission {
		t.Helper()
		req := at(m, ecs.CreateDescribeSecurityGroupAttributeRequest())
		req.SecurityGroupId, req.Direction = "sg-app", dir
		resp, err := c.DescribeSecurityGroupAttribute(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.SecurityGroupId != "sg-app" || resp.SecurityGroupName != "app" || resp.InnerAccessPolicy != "Accept" || resp.RequestId == "" {
			t.Fatalf("DescribeSecurityGroupAttribute: %+v", resp)
		}
		return resp.Permissions.Permission
	}
	all := describe("")
	if len(all) != 4 {
		t.Fatalf("4 rules expected: %+v", all)
	}
	// Evaluation order: ingress by priority, then egress; values capitalised as ECS answers, priority a string.
	p := all[0]
	if p.IpProtocol != "TCP" || p.PortRange != "6379/6379" || p.SourceCidrIp != "10.0.0.0/8" || p.Policy != "Accept" ||
		p.Priority != "1" || p.NicType != "intranet" || p.Direction != "ingress" || p.Description != "redis" ||
		!strings.HasPrefix(p.SecurityGroupRuleId, "sgr-") || p.CreateTime == "" {
		t.Fatalf("first rule: %+v", p)
	}
	if all[2].IpProtocol != "ICMP" || all[2].Policy != "Drop" || all[2].Priority != "100" || all[3].Direction != "egress" ||
		all[3].Ipv6DestCidrIp != "2001:db8::/32" || all[3].IpProtocol != "ALL" {
		t.Fatalf("rules: %+v", all)
	}
	if in := describe("ingress"); len(in) != 3 {
		t.Fatalf("Direction=ingress: %+v", in)
	}
	// The raw JSON has exactly the reference's field names, every value a string.
	raw := m.ecsJSON("DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": "sg-app", "Direction": "egress"})
	perm := raw["Permissions"].(map[string]any)["Permission"].([]any)[0].(map[string]any)
	for _, k := range []string{"SecurityGroupRuleId", "Direction", "IpProtocol", "PortRange", "SourcePortRange", "SourceCidrIp",
		"Ipv6SourceCidrIp", "SourceGroupId", "DestCidrIp", "Ipv6DestCidrIp", "Policy", "Priority", "NicType", "Description", "CreateTime"} {
		if _, ok := perm[k].(string); !ok {
			t.Errorf("Permission.%s = %#v, want a string", k, perm[k])
		}
	}

	// Validation, each with the reference's code.
	bad := []struct {
		params map[string]string
		status int
		code   string
	}{
		{map[string]string{"IpProtocol": "sctp", "PortRange": "1/2", "SourceCidrIp": "10.0.0.1"}, 400, "InvalidIpProtocol.ValueNotSupported"},
		{map[string]string{"IpProtocol": "icmp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1"}, 400, "OperationDenied"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "-1/-1", "SourceCidrIp": "10.0.0.1"}, 400, "OperationDenied"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "80/22", "SourceCidrIp": "10.0.0.1"}, 400, "InvalidPortRange.Malformed"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "1/65536", "SourceCidrIp": "10.0.0.1"}, 400, "InvalidPortRange.Malformed"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.5/24"}, 400, "InvalidSourceCidrIp.Malformed"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22"}, 400, "MissingParameter.Source"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1", "Policy": "reject"}, 400, "InvalidPolicy.Malformed"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1", "Priority": "0"}, 400, "InvalidPriority.ValueNotSupported"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1", "Priority": "101"}, 400, "InvalidPriority.ValueNotSupported"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1", "Priority": "high"}, 400, "InvalidPriority.Malformed"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "10.0.0.1", "NicType": "wan"}, 400, "InvalidNicType.ValueNotSupported"},
		{map[string]string{"IpProtocol": "tcp", "PortRange": "22/22", "SourceGroupId": "sg-other"}, 400, "InvalidParameter.NotSupported"},
		{map[string]string{"Permissions.101.IpProtocol": "tcp"}, 400, "InvalidParameter.Permissions"},
	}
	for _, b := range bad {
		b.params["SecurityGroupId"] = "sg-app"
		m.ecsErr("AuthorizeSecurityGroup", b.params, b.status, b.code)
	}
	m.ecsErr("AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-nosuch", "IpProtocol": "all", "SourceCidrIp": "10.0.0.1"}, 404, "InvalidSecurityGroupId.NotFound")
	m.ecsErr("AuthorizeSecurityGroupEgress", map[string]string{"SecurityGroupId": "sg-app", "IpProtocol": "all"}, 400, "MissingParameter.Destination")
	if n := len(describe("")); n != 4 {
		t.Fatalf("refused calls changed the rules: %d", n)
	}

	// Revoke by fields (defaults: accept, priority 1, intranet), typed with Permissions.
	rreq := at(m, ecs.CreateRevokeSecurityGroupRequest())
	rreq.SecurityGroupId = "sg-app"
	rreq.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "6379/6379", SourceCidrIp: "10.0.0.0/8"}}
	if _, err := c.RevokeSecurityGroup(rreq); err != nil {
		t.Fatal(err)
	}
	// Fields that match nothing: success, nothing removed.
	rreq = at(m, ecs.CreateRevokeSecurityGroupRequest())
	rreq.SecurityGroupId, rreq.IpProtocol, rreq.PortRange, rreq.SourceCidrIp = "sg-app", "udp", "53/53", "10.0.0.0/8"
	if _, err := c.RevokeSecurityGroup(rreq); err != nil {
		t.Fatal(err)
	}
	left := describe("ingress")
	if len(left) != 2 || left[0].Description != "ssh" {
		t.Fatalf("after revoking by fields: %+v", left)
	}
	// By SecurityGroupRuleId.N: an unknown ID fails and removes nothing.
	rreq = at(m, ecs.CreateRevokeSecurityGroupRequest())
	rreq.SecurityGroupId = "sg-app"
	rreq.SecurityGroupRuleId = &[]string{left[0].SecurityGroupRuleId, "sgr-nosuch"}
	_, err := c.RevokeSecurityGroup(rreq)
	wantSDKError(t, err, 400, "InvalidParam.SecurityGroupRuleId")
	rreq = at(m, ecs.CreateRevokeSecurityGroupRequest())
	rreq.SecurityGroupId = "sg-app"
	rreq.SecurityGroupRuleId = &[]string{left[0].SecurityGroupRuleId, left[1].SecurityGroupRuleId}
	if _, err := c.RevokeSecurityGroup(rreq); err != nil {
		t.Fatal(err)
	}
	// The egress rule is revoked by the egress twin, by ID.
	egress := describe("egress")
	rereq := at(m, ecs.CreateRevokeSecurityGroupEgressRequest())
	rereq.SecurityGroupId = "sg-app"
	rereq.SecurityGroupRuleId = &[]string{egress[0].SecurityGroupRuleId}
	if _, err := c.RevokeSecurityGroupEgress(rereq); err != nil {
		t.Fatal(err)
	}
	if n := len(describe("")); n != 0 {
		t.Fatalf("%d rules left", n)
	}

	// At most 200 rules in a group: 100 per call, the 201st refused.
	for call := 0; call < 2; call++ {
		q := map[string]string{"SecurityGroupId": "sg-app"}
		for i := 1; i <= 100; i++ {
			q[fmt.Sprintf("Permissions.%d.IpProtocol", i)] = "tcp"
			q[fmt.Sprintf("Permissions.%d.PortRange", i)] = fmt.Sprintf("%d/%d", call*100+i, call*100+i)
			q[fmt.Sprintf("Permissions.%d.SourceCidrIp", i)] = "10.0.0.0/8"
		}
		m.ecsJSON("AuthorizeSecurityGroup", q)
	}
	m.ecsErr("AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "IpProtocol": "udp", "PortRange": "1/1", "SourceCidrIp": "10.0.0.0/8"}, 403, "AuthorizationLimitExceed")
}

// SG2 and SG3: at most 10 groups, refused below engine 4.0 and for cloud-native cluster and rw_split.
func TestBindingLimitsAndGating(t *testing.T) {
	m := startMoat(t)
	var ids []string
	for i := 1; i <= 11; i++ {
		id := fmt.Sprintf("sg-g%d", i)
		m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": id})
		ids = append(ids, id)
	}
	m.bind(m.inst, strings.Join(ids[:10], ","))
	if got, _ := m.bound(m.inst); len(got) != 10 {
		t.Fatalf("10 groups bound: %v", got)
	}
	msg := m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": m.inst, "SecurityGroupId": strings.Join(ids, ",")}, 400, "AssociatedEcsSecurityGroupIdQuotaExceed")
	if !strings.Contains(msg, "11") {
		t.Errorf("the 11th group: %s", msg)
	}
	if got, _ := m.bound(m.inst); len(got) != 10 {
		t.Fatalf("a refused call changed the binding: %v", got)
	}

	create := func(id string, params map[string]string) {
		t.Helper()
		params["InstanceId"], params["Listen"] = id, "127.0.0.1:0"
		m.mustCall("CreateInstance", params)
	}
	create("r-old", map[string]string{"EngineVersion": "3.0"})
	create("r-cnrw", map[string]string{"ArchitectureType": "rw_split", "Architecture": "cloud_native"})
	create("r-cncl", map[string]string{"ArchitectureType": "cluster", "Architecture": "cloud_native"})
	create("r-clrw", map[string]string{"ArchitectureType": "rwsplit"}) // classic rw_split may bind
	create("r-cnstd", map[string]string{"Architecture": "cloud_native", "EngineVersion": "4.0"})

	if msg := m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": "r-old", "SecurityGroupId": "sg-g1"}, 400, "EngineNotSupported"); !strings.Contains(msg, "3.0") {
		t.Errorf("engine refusal names the version: %s", msg)
	}
	for _, id := range []string{"r-cnrw", "r-cncl"} {
		if msg := m.kvErr("ModifySecurityGroupConfiguration", map[string]string{"DBInstanceId": id, "SecurityGroupId": "sg-g1"}, 400, "InstanceTypeNotSupported"); !strings.Contains(msg, "cloud-native") {
			t.Errorf("%s: %s", id, msg)
		}
	}
	m.bind("r-clrw", "sg-g1")
	m.bind("r-cnstd", "sg-g1")
	m.bind("r-old", "") // unbinding nothing is always allowed
	if got, _ := m.bound("r-old"); len(got) != 0 {
		t.Fatalf("r-old: %v", got)
	}
	attr := m.mustCall("DescribeInstanceAttribute", map[string]string{"InstanceId": "r-cnrw"})["Instances"].(map[string]any)["DBInstanceAttribute"].([]any)[0].(map[string]any)
	if attr["ArchitectureType"] != "rwsplit" || attr["Architecture"] != "cloud_native" {
		t.Fatalf("DescribeInstanceAttribute shows the type: %v", attr)
	}
	status, body := m.do("CreateInstance", rawRequest{Params: map[string][]string{"InstanceId": {"r-bad"}, "ArchitectureType": {"sharded"}}})
	wantErrorJSON(t, status, body, http.StatusBadRequest, "InvalidArchitectureType.ValueNotSupported")

	// Actions exist per version: the ECS actions are not R-kvstore ones, and vice versa.
	status, body = m.do("CreateSecurityGroup", rawRequest{Params: map[string][]string{"Version": {"2015-01-01"}}})
	wantErrorJSON(t, status, body, http.StatusBadRequest, "InvalidVersion")
	status, body = m.do("ModifySecurityGroupConfiguration", rawRequest{Params: map[string][]string{"Version": {"2014-05-26"}}})
	wantErrorJSON(t, status, body, http.StatusBadRequest, "InvalidVersion")
	var e map[string]string
	json.Unmarshal(body, &e)
	if !strings.Contains(e["Message"], "2015-01-01") {
		t.Errorf("InvalidVersion names the right version: %v", e)
	}
}
