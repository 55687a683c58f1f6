package model

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The export answered the stored groups as they are stored; as desired states they must marshal to the
// same bytes, so that ExportSecurityGroups did not change, and read back into the same group.
func TestDesiredJSONIsStoredJSON(t *testing.T) {
	rule := Rule{ID: "sgr-1", Direction: Egress, Protocol: "tcp", PortRange: "6379/6379", CIDR: "10.0.0.0/8",
		Policy: "accept", Priority: 7, NicType: "intranet", Description: "redis", Created: "2026-01-02T03:04:05Z"}
	bare := rule
	bare.Description, bare.Created = "", ""
	for _, g := range []SecurityGroup{
		{ID: "sg-full", Name: "app", Description: "the app", VpcID: "vpc-1", Created: "2026-01-02T03:04:05Z",
			Members: []string{"i-a", "i-b"}, Rules: []Rule{rule, bare}},
		{ID: "sg-empty", Name: "", Members: []string{}, Rules: []Rule{}},
		{ID: "sg-nil"},
	} {
		stored, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		desired, err := json.Marshal(g.Desired())
		if err != nil {
			t.Fatal(err)
		}
		if string(desired) != string(stored) {
			t.Errorf("%s as desired state:\n%s\nstored:\n%s", g.ID, desired, stored)
		}
	}
}

// A desired rule names its CIDR by direction and family, as ECS parameters do.
func TestDesiredRuleSpec(t *testing.T) {
	for _, c := range []struct {
		rule DesiredRule
		want RuleSpec
	}{
		{DesiredRule{Protocol: "tcp", PortRange: "1/2", CIDR: "10.0.0.0/8", Priority: "3"},
			RuleSpec{IpProtocol: "tcp", PortRange: "1/2", SourceCidrIp: "10.0.0.0/8", Priority: "3"}},
		{DesiredRule{Direction: Ingress, Protocol: "all", CIDR: "fd00::/8", Policy: "drop"},
			RuleSpec{Direction: Ingress, IpProtocol: "all", Ipv6SourceCidrIp: "fd00::/8", Policy: "drop"}},
		{DesiredRule{Direction: Egress, Protocol: "udp", CIDR: "1.2.3.4", NicType: "internet", Description: "d"},
			RuleSpec{Direction: Egress, IpProtocol: "udp", DestCidrIp: "1.2.3.4", NicType: "internet", Description: "d"}},
		{DesiredRule{Direction: Egress, Protocol: "icmpv6", CIDR: "::1"},
			RuleSpec{Direction: Egress, IpProtocol: "icmpv6", Ipv6DestCidrIp: "::1"}},
	} {
		got := c.rule.Spec()
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v.Spec() = %+v, want %+v", c.rule, got, c.want)
		}
	}
}
