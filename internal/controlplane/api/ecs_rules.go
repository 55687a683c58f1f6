package api

// ECS security-group rules: authorize, revoke and describe (DescribeSecurityGroupAttribute).

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// unsupportedFields are rule parameters moat does not implement; a call that sets one is refused.
var unsupportedFields = []string{"SourceGroupId", "SourceGroupOwnerId", "SourceGroupOwnerAccount", "SourcePrefixListId",
	"SourcePortRange", "PortRangeListId", "DestGroupId", "DestGroupOwnerId", "DestGroupOwnerAccount", "DestPrefixListId"}

// ruleSpecs reads the rules of an Authorize/Revoke call: the flat fields (when IpProtocol or any other
// rule field is set) and Permissions.1..100.
func ruleSpecs(c *call, direction string) ([]model.RuleSpec, error) {
	read := func(prefix string) (model.RuleSpec, bool) {
		s := model.RuleSpec{Direction: direction}
		set := false
		get := func(f string) string {
			v := c.params.Get(prefix + f)
			if v != "" {
				set = true
			}
			return v
		}
		s.IpProtocol, s.PortRange = get("IpProtocol"), get("PortRange")
		s.SourceCidrIp, s.Ipv6SourceCidrIp = get("SourceCidrIp"), get("Ipv6SourceCidrIp")
		s.DestCidrIp, s.Ipv6DestCidrIp = get("DestCidrIp"), get("Ipv6DestCidrIp")
		s.Policy, s.Priority, s.NicType, s.Description = get("Policy"), get("Priority"), get("NicType"), get("Description")
		for _, f := range unsupportedFields {
			if c.params.Get(prefix+f) != "" {
				s.Unsupported = append(s.Unsupported, prefix+f)
				set = true
			}
		}
		return s, set
	}
	var specs []model.RuleSpec
	if s, ok := read(""); ok {
		specs = append(specs, s)
	}
	max := 0
	for k := range c.params {
		if rest, ok := strings.CutPrefix(k, "Permissions."); ok {
			n, _, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(n)
			if err != nil || i < 1 {
				return nil, badPermissionsIndex(k)
			}
			if i > model.MaxPermissionsPerCall {
				return nil, fmt.Errorf("parameter %q: %w", k, model.ErrTooManyPerms)
			}
			max = maxInt(max, i)
		}
	}
	for i := 1; i <= max; i++ {
		if s, ok := read(fmt.Sprintf("Permissions.%d.", i)); ok {
			specs = append(specs, s)
		}
	}
	return specs, nil
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// rules checks every spec and returns the rules, or every problem at once (each naming its rule).
func rules(specs []model.RuleSpec) ([]model.Rule, error) {
	var out []model.Rule
	var errs []string
	var first error
	for i, s := range specs {
		r, err := s.Rule()
		if err != nil {
			if first == nil {
				first = err
			}
			errs = append(errs, fmt.Sprintf("rule %d: %s", i+1, oneLine(err.Error())))
			continue
		}
		out = append(out, r)
	}
	switch {
	case first != nil && len(specs) == 1:
		return nil, first
	case first != nil:
		return nil, ruleErrors{strings.Join(errs, "; "), first}
	}
	return out, nil
}

// ruleErrors names every bad rule of a call; its code is the first one's.
type ruleErrors struct {
	msg   string
	first error
}

func (e ruleErrors) Error() string { return e.msg }
func (e ruleErrors) Unwrap() error { return e.first }

func authorize(direction string) func(c *call) (any, error) {
	return func(c *call) (any, error) {
		sg, err := c.required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		specs, err := ruleSpecs(c, direction)
		if err != nil {
			return nil, err
		}
		if len(specs) == 0 {
			return nil, missing("IpProtocol")
		}
		rs, err := rules(specs)
		if err != nil {
			return nil, err
		}
		stored, err := c.h.plane.AuthorizeRules(c.actor, sg, rs)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(stored))
		for i, r := range stored {
			ids[i] = r.ID
		}
		return map[string]any{"MoatSecurityGroupRuleIds": ids}, nil
	}
}

func revoke(direction string) func(c *call) (any, error) {
	return func(c *call) (any, error) {
		sg, err := c.required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		var ids []string
		for i := 1; ; i++ {
			v := c.params.Get(fmt.Sprintf("SecurityGroupRuleId.%d", i))
			if v == "" {
				break
			}
			if i > model.MaxPermissionsPerCall {
				return nil, fmt.Errorf("SecurityGroupRuleId.%d: %w", i, model.ErrTooManyPerms)
			}
			ids = append(ids, v)
		}
		specs, err := ruleSpecs(c, direction)
		if err != nil {
			return nil, err
		}
		if len(specs) == 0 && len(ids) == 0 {
			return nil, missing("SecurityGroupRuleId.1")
		}
		rs, err := rules(specs)
		if err != nil {
			return nil, err
		}
		n, err := c.h.plane.RevokeRules(c.actor, sg, direction, rs, ids)
		if err != nil {
			return nil, err
		}
		return map[string]any{"MoatRevoked": n}, nil
	}
}

// permission is one rule as DescribeSecurityGroupAttribute shows it: every field a string, protocol and
// policy capitalised as ECS answers.
type permission struct {
	SecurityGroupRuleId, Direction, IpProtocol, PortRange, SourcePortRange                           string
	SourceCidrIp, Ipv6SourceCidrIp, SourceGroupId, SourceGroupName, SourceGroupOwnerAccount          string
	SourcePrefixListId, SourcePrefixListName, DestCidrIp, Ipv6DestCidrIp, DestGroupId, DestGroupName string
	DestGroupOwnerAccount, DestPrefixListId, DestPrefixListName, PortRangeListId, PortRangeListName  string
	Policy, Priority, NicType, Description, CreateTime                                               string
}

var protocolNames = map[string]string{"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPv6", "gre": "GRE", "all": "ALL"}

func permissionOf(r model.Rule) permission {
	s := r.Spec()
	return permission{
		SecurityGroupRuleId: r.ID, Direction: r.Direction, IpProtocol: protocolNames[r.Protocol], PortRange: r.PortRange,
		SourceCidrIp: s.SourceCidrIp, Ipv6SourceCidrIp: s.Ipv6SourceCidrIp, DestCidrIp: s.DestCidrIp, Ipv6DestCidrIp: s.Ipv6DestCidrIp,
		Policy: strings.ToUpper(r.Policy[:1]) + r.Policy[1:], Priority: strconv.Itoa(r.Priority), NicType: r.NicType,
		Description: r.Description, CreateTime: r.Created,
	}
}

func describeSecurityGroupAttribute(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	dir := first(c.params.Get("Direction"), "all")
	if dir != "all" && dir != model.Ingress && dir != model.Egress {
		return nil, errDirection
	}
	nic := c.params.Get("NicType")
	if nic != "" && nic != "internet" && nic != "intranet" {
		return nil, fmt.Errorf("%q: %w", nic, model.ErrNicType)
	}
	limit := 500
	if s := c.params.Get("MaxResults"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 10 || limit > 1000 {
			return nil, errMaxResults
		}
	}
	start := 0
	if s := c.params.Get("NextToken"); s != "" {
		if start, err = strconv.Atoi(s); err != nil || start < 0 {
			return nil, errNextToken
		}
	}
	g, err := c.h.plane.SecurityGroup(id)
	if err != nil {
		return nil, err
	}
	rs := append([]model.Rule(nil), g.Rules...)
	model.SortRules(rs)
	perms := []permission{}
	for _, r := range rs {
		if (dir == "all" || r.Direction == dir) && (nic == "" || r.NicType == nic) {
			perms = append(perms, permissionOf(r))
		}
	}
	next := ""
	start = min(start, len(perms))
	if start+limit < len(perms) {
		next = strconv.Itoa(start + limit)
	}
	perms = perms[start:min(start+limit, len(perms))]
	return map[string]any{"RegionId": region(c), "SecurityGroupId": g.ID, "SecurityGroupName": g.Name,
		"Description": g.Description, "VpcId": g.VpcID, "InnerAccessPolicy": "Accept", "NextToken": next,
		"Permissions": map[string]any{"Permission": perms}}, nil
}
