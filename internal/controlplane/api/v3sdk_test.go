package api_test

import (
	"errors"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	ecs "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
)

// teaECS is the Tea-style ECS SDK client (github.com/alibabacloud-go/ecs-20140526/v7, which signs with
// ACS3-HMAC-SHA256) pointed at this moat over plain HTTP with the given key.
func (m *moat) teaECS(id, secret string) *ecs.Client {
	m.t.Helper()
	c, err := ecs.NewClient(&openapiutil.Config{
		AccessKeyId:     dara.String(id),
		AccessKeySecret: dara.String(secret),
		RegionId:        dara.String("cn-hangzhou"),
		Endpoint:        dara.String(m.api),
		Protocol:        dara.String("http"),
	})
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// teaCall sends any RPC action through the Tea SDK's generic CallApi, signed V3 with the given key;
// it returns the decoded JSON body. Unlike a V1 call, the caller's key ID travels in the Authorization
// header, so an action parameter named AccessKeyId reaches moat as the caller set it.
func (m *moat) teaCall(id, secret, action, version string, query map[string]string) (map[string]any, error) {
	m.t.Helper()
	c, err := openapi.NewClient(&openapiutil.Config{
		AccessKeyId: dara.String(id), AccessKeySecret: dara.String(secret),
		RegionId: dara.String("cn-hangzhou"), Endpoint: dara.String(m.api), Protocol: dara.String("http"),
	})
	if err != nil {
		m.t.Fatal(err)
	}
	q := map[string]any{}
	for k, v := range query {
		q[k] = v
	}
	res, err := c.CallApi(&openapiutil.Params{
		Action: dara.String(action), Version: dara.String(version), Protocol: dara.String("HTTP"), Pathname: dara.String("/"),
		Method: dara.String("POST"), AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}, &openapiutil.OpenApiRequest{Query: openapiutil.Query(q)}, &dara.RuntimeOptions{})
	if err != nil {
		return nil, err
	}
	body, _ := res["body"].(map[string]any)
	return body, nil
}

// teaError checks a Tea SDK call failed with the given HTTP status and code.
func teaError(t *testing.T, err error, status int, code string) *tea.SDKError {
	t.Helper()
	var se *tea.SDKError
	if !errors.As(err, &se) {
		t.Fatalf("want a *tea.SDKError, got %T %v", err, err)
	}
	if dara.IntValue(se.StatusCode) != status || dara.StringValue(se.Code) != code {
		t.Fatalf("got HTTP %d %s (%s), want HTTP %d %s", dara.IntValue(se.StatusCode), dara.StringValue(se.Code), dara.StringValue(se.Message), status, code)
	}
	return se
}

// teaGroups lists the security groups through the Tea SDK: ID → name.
func teaGroups(t *testing.T, c *ecs.Client) map[string]string {
	t.Helper()
	resp, err := c.DescribeSecurityGroups(&ecs.DescribeSecurityGroupsRequest{RegionId: dara.String("cn-hangzhou")})
	if err != nil {
		t.Fatalf("DescribeSecurityGroups (Tea SDK, V3): %v", err)
	}
	if resp.Body == nil || dara.StringValue(resp.Body.RequestId) == "" || resp.Body.SecurityGroups == nil {
		t.Fatalf("DescribeSecurityGroups (Tea SDK): %+v", resp.Body)
	}
	out := map[string]string{}
	for _, g := range resp.Body.SecurityGroups.SecurityGroup {
		out[dara.StringValue(g.SecurityGroupId)] = dara.StringValue(g.SecurityGroupName)
	}
	if int(dara.Int32Value(resp.Body.TotalCount)) != len(out) {
		t.Fatalf("DescribeSecurityGroups: TotalCount %d, %d groups", dara.Int32Value(resp.Body.TotalCount), len(out))
	}
	return out
}

// The real Tea-style SDK, signing V3 (ACS3-HMAC-SHA256) as it does by default, drives moat's ECS
// actions over an http loopback endpoint; the same SDK with a wrong secret is refused and changes nothing.
func TestTeaSDKSignsV3(t *testing.T) {
	m := startMoat(t)
	c := m.teaECS(m.keyID, m.secret)

	if got := teaGroups(t, c); len(got) != 0 {
		t.Fatalf("a fresh moat has security groups: %v", got)
	}
	cresp, err := c.CreateSecurityGroup(&ecs.CreateSecurityGroupRequest{
		RegionId: dara.String("cn-hangzhou"), SecurityGroupName: dara.String("tea-web"), Description: dara.String("made by the Tea SDK"),
	})
	if err != nil {
		t.Fatalf("CreateSecurityGroup (Tea SDK, V3): %v", err)
	}
	id := dara.StringValue(cresp.Body.SecurityGroupId)
	if id == "" || dara.StringValue(cresp.Body.RequestId) == "" || dara.Int32Value(cresp.StatusCode) != 200 {
		t.Fatalf("CreateSecurityGroup: %+v", cresp)
	}
	if got := teaGroups(t, c); len(got) != 1 || got[id] != "tea-web" {
		t.Fatalf("after CreateSecurityGroup: %v", got)
	}
	// The change is the one moat's own API sees: the V1-signed ECS DescribeSecurityGroups agrees.
	out := m.ecsJSON("DescribeSecurityGroups", map[string]string{"SecurityGroupId": id})
	if sgs := out["SecurityGroups"].(map[string]any)["SecurityGroup"].([]any); len(sgs) != 1 || sgs[0].(map[string]any)["Description"] != "made by the Tea SDK" {
		t.Fatalf("V1 DescribeSecurityGroups after the V3 create: %v", out)
	}
	// A later V3 call, with a new nonce, changes the group again.
	if _, err := c.ModifySecurityGroupAttribute(&ecs.ModifySecurityGroupAttributeRequest{
		RegionId: dara.String("cn-hangzhou"), SecurityGroupId: dara.String(id), SecurityGroupName: dara.String("tea-web2"),
	}); err != nil {
		t.Fatalf("ModifySecurityGroupAttribute (Tea SDK, V3): %v", err)
	}
	if got := teaGroups(t, c); got[id] != "tea-web2" {
		t.Fatalf("after ModifySecurityGroupAttribute: %v", got)
	}

	// A wrong secret: the SDK gets the provider's code, and nothing is created.
	_, err = m.teaECS(m.keyID, m.secret+"x").CreateSecurityGroup(&ecs.CreateSecurityGroupRequest{
		RegionId: dara.String("cn-hangzhou"), SecurityGroupName: dara.String("forged"),
	})
	teaError(t, err, 400, "SignatureDoesNotMatch")
	if got := teaGroups(t, c); len(got) != 1 || got[id] != "tea-web2" {
		t.Fatalf("the refused call changed the security groups: %v", got)
	}
}
