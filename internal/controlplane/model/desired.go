package model

// The desired-state document of security groups (SPEC SG5), the one form export, plan, apply and the CLI share.

import (
	"encoding/json"
	"strconv"
)

// Desired is a desired state of security groups: what ExportSecurityGroups answers and `moat sg export
// --format json` prints, and what PlanSecurityGroups and ApplySecurityGroups read, so that an export fed
// back plans no change. Its JSON field names are part of the API.
type Desired struct {
	SecurityGroups []DesiredGroup `json:"security_groups"`
}

// DesiredGroup is one group as wanted. It is found by ID, else by name (which must then be unique); one
// that does not exist is created (with ID when given). A nil Name, Description, Members or Rules leaves
// the group's own alone; a non-nil Members or Rules replaces its set.
type DesiredGroup struct {
	ID          string         `json:"id"`
	Name        *string        `json:"name"`
	Description *string        `json:"description,omitempty"`
	VpcID       string         `json:"vpc_id,omitempty"`
	Created     string         `json:"created,omitempty"` // as exported; ignored when read
	Members     *[]string      `json:"members"`           // host IDs
	Rules       *[]DesiredRule `json:"rules"`
}

// DesiredRule is one rule as wanted. With an ID it updates that rule; without, it matches a current
// rule with the same effect (Rule.Key), else it is added. Priority is a JSON number or a numeric
// string; empty means the default.
type DesiredRule struct {
	ID          string      `json:"id,omitempty"`
	Direction   string      `json:"direction"`
	Protocol    string      `json:"protocol"`
	PortRange   string      `json:"port_range"`
	CIDR        string      `json:"cidr"`
	Policy      string      `json:"policy"`
	Priority    json.Number `json:"priority"`
	NicType     string      `json:"nic_type"`
	Description string      `json:"description,omitempty"`
	Created     string      `json:"created,omitempty"` // as exported; ignored when read
}

// Desired returns the group as its desired state: every field set, so that applying it changes nothing.
// Its JSON is the stored group's (an empty description is left out, nil members stay null).
func (g SecurityGroup) Desired() DesiredGroup {
	d := DesiredGroup{ID: g.ID, Name: &g.Name, VpcID: g.VpcID, Created: g.Created, Members: &g.Members}
	if g.Description != "" {
		d.Description = &g.Description
	}
	rules := make([]DesiredRule, len(g.Rules))
	for i, r := range g.Rules {
		rules[i] = r.Desired()
	}
	if g.Rules != nil {
		d.Rules = &rules
	}
	return d
}

// Desired returns the rule in the desired-state form.
func (r Rule) Desired() DesiredRule {
	return DesiredRule{ID: r.ID, Direction: r.Direction, Protocol: r.Protocol, PortRange: r.PortRange, CIDR: r.CIDR,
		Policy: r.Policy, Priority: json.Number(strconv.Itoa(r.Priority)), NicType: r.NicType,
		Description: r.Description, Created: r.Created}
}

// Spec returns the rule as ECS parameters, the CIDR in the field of its direction and family, for
// RuleSpec.Rule to check.
func (d DesiredRule) Spec() RuleSpec {
	s := Rule{Direction: d.Direction, CIDR: d.CIDR}.Spec()
	s.Direction, s.IpProtocol, s.PortRange, s.Policy = d.Direction, d.Protocol, d.PortRange, d.Policy
	s.Priority, s.NicType, s.Description = d.Priority.String(), d.NicType, d.Description
	return s
}
