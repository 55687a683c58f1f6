package model

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/allowlist"
)

// SecurityGroup is an ECS-style security group: member hosts and inbound/outbound rules. Binding a group
// to an instance allows every address of every member (SG2); the rules never affect instance access
// (SG4): they are for hosts to enforce (see package firewall). Members are kept sorted.
type SecurityGroup struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	VpcID       string   `json:"vpc_id,omitempty"`
	Created     string   `json:"created,omitempty"` // RFC 3339, UTC
	Members     []string `json:"members"`
	Rules       []Rule   `json:"rules"`
}

// Rule is one security group rule with ECS semantics (SG5), in canonical form: lowercase protocol,
// policy and NIC type, a canonical CIDR, a priority 1–100. CIDR is the source of an ingress rule and the
// destination of an egress rule.
type Rule struct {
	ID          string `json:"id"`
	Direction   string `json:"direction"` // ingress | egress
	Protocol    string `json:"protocol"`  // tcp | udp | icmp | icmpv6 | gre | all
	PortRange   string `json:"port_range"`
	CIDR        string `json:"cidr"`
	Policy      string `json:"policy"` // accept | drop
	Priority    int    `json:"priority"`
	NicType     string `json:"nic_type"` // intranet | internet
	Description string `json:"description,omitempty"`
	Created     string `json:"created,omitempty"`
}

// Directions, policies and limits.
const (
	Ingress = "ingress"
	Egress  = "egress"

	PolicyAccept = "accept"
	PolicyDrop   = "drop"

	MaxRulesPerGroup      = 200 // inbound and outbound together, as ECS
	MaxPermissionsPerCall = 100
	MaxGroupsPerHost      = 5 // ECS's default quota
	MaxGroupsPerInstance  = 10
	MaxDescriptionLen     = 512
)

// Security group and rule errors.
var (
	ErrSecurityGroupID = errors.New(`security group ID must be "sg-" followed by 1 to 60 lowercase letters or digits`)
	ErrSGDescription   = errors.New("description must be 2 to 256 characters and must not start with http:// or https://")
	ErrRuleDescription = errors.New("rule description must be 1 to 512 characters")
	ErrProtocol        = errors.New("IpProtocol must be one of TCP, UDP, ICMP, ICMPv6, GRE or ALL (any case)")
	ErrPortRange       = errors.New(`PortRange must be "start/end" with 1 <= start <= end <= 65535, or -1/-1`)
	ErrPortProtocol    = errors.New("the IpProtocol and PortRange do not match (tcp and udp take 1-65535 ranges; icmp, icmpv6, gre and all take -1/-1)")
	ErrSourceCIDR      = errors.New(`the parameter "SourceCidrIp" is not valid`)
	ErrDestCIDR        = errors.New(`the parameter "DestCidrIp" is not valid`)
	ErrMissingSource   = errors.New("either SourceCidrIp or Ipv6SourceCidrIp must be specified")
	ErrMissingDest     = errors.New("either DestCidrIp or Ipv6DestCidrIp must be specified")
	//lint:ignore ST1005 the message names the API parameter, as the provider's does
	ErrRulePolicy        = errors.New("Policy must be accept or drop")
	ErrPriority          = errors.New("the parameter Priority is invalid: it must be an integer")
	ErrPriorityRange     = errors.New("the parameter Priority is invalid: it must be from 1 to 100")
	ErrNicType           = errors.New("NicType must be internet or intranet")
	ErrNotSupported      = errors.New("not supported by moat")
	ErrTooManyRules      = errors.New("the limit of authorization records in the security group is reached (200 rules, inbound and outbound together)")
	ErrTooManyPerms      = errors.New("at most 100 Permissions.N or SecurityGroupRuleId.N may be given in one call")
	ErrDirection         = errors.New("direction must be ingress or egress")
	ErrHostGroupQuota    = errors.New("a host can be in at most 5 security groups")
	ErrTooManyBound      = errors.New("an instance can bind at most 10 security groups")
	ErrEngineNotBindable = errors.New("security groups need engine version 4.0 or later")
	ErrTypeNotBindable   = errors.New("security groups cannot be bound to cloud-native cluster or read/write splitting instances")
)

// CheckSecurityGroupID checks "sg-" followed by 1–60 lowercase letters or digits.
func CheckSecurityGroupID(id string) error {
	rest, ok := strings.CutPrefix(id, "sg-")
	if !ok || !lowerAlnum(rest, 60) {
		return fmt.Errorf("%q: %w", id, ErrSecurityGroupID)
	}
	return nil
}

// NewSecurityGroupID returns "sg-" and 20 random lowercase letters and digits.
func NewSecurityGroupID() string { return "sg-" + Random("abcdefghijklmnopqrstuvwxyz0123456789", 20) }

// NewRuleID returns "sgr-" and 20 random lowercase letters and digits.
func NewRuleID() string { return "sgr-" + Random("abcdefghijklmnopqrstuvwxyz0123456789", 20) }

// CheckSecurityGroupName checks a group name (2–128 characters, not http(s)://; empty allowed).
func CheckSecurityGroupName(name string) error { return checkName(name) }

// CheckSecurityGroupDescription checks a group description (2–256 characters; empty allowed).
func CheckSecurityGroupDescription(d string) error {
	n := len([]rune(d))
	if d != "" && (n < 2 || n > 256 || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://")) {
		return fmt.Errorf("%q: %w", d, ErrSGDescription)
	}
	return nil
}

// RuleSpec is a rule as a caller writes it: the ECS parameters as strings, flat or from Permissions.N.
// Empty fields take ECS's defaults (policy accept, priority 1, NIC type intranet, port range -1/-1 for
// protocols without ports).
type RuleSpec struct {
	Direction                              string
	IpProtocol, PortRange                  string
	SourceCidrIp, Ipv6SourceCidrIp         string
	DestCidrIp, Ipv6DestCidrIp             string
	Policy, Priority, NicType, Description string
	Unsupported                            []string // names of parameters given that moat does not implement
}

// Rule checks the spec and returns the canonical rule (without ID or creation time). Every problem is
// reported at once.
func (s RuleSpec) Rule() (Rule, error) {
	var errs []error
	r := Rule{Direction: s.Direction, Description: s.Description}
	if r.Direction == "" {
		r.Direction = Ingress
	}
	if r.Direction != Ingress && r.Direction != Egress {
		errs = append(errs, fmt.Errorf("%q: %w", s.Direction, ErrDirection))
	}
	for _, u := range s.Unsupported {
		errs = append(errs, fmt.Errorf("%s: %w (only CIDR sources and destinations are)", u, ErrNotSupported))
	}
	r.Protocol = strings.ToLower(s.IpProtocol)
	switch r.Protocol {
	case "tcp", "udp", "icmp", "icmpv6", "gre", "all":
	case "":
		errs = append(errs, fmt.Errorf("IpProtocol is missing: %w", ErrProtocol))
	default:
		errs = append(errs, fmt.Errorf("%q: %w", s.IpProtocol, ErrProtocol))
	}
	ports := r.Protocol == "tcp" || r.Protocol == "udp"
	r.PortRange = s.PortRange
	if r.PortRange == "" && !ports {
		r.PortRange = "-1/-1"
	}
	if lo, _, err := ParsePortRange(r.PortRange); err != nil {
		errs = append(errs, err)
	} else if r.Protocol != "" && ports != (lo > 0) {
		errs = append(errs, fmt.Errorf("IpProtocol %q with PortRange %q: %w", s.IpProtocol, s.PortRange, ErrPortProtocol))
	}
	v4, v6, cidrErr, missing := s.SourceCidrIp, s.Ipv6SourceCidrIp, ErrSourceCIDR, ErrMissingSource
	if r.Direction == Egress {
		v4, v6, cidrErr, missing = s.DestCidrIp, s.Ipv6DestCidrIp, ErrDestCIDR, ErrMissingDest
	}
	switch {
	case v4 != "" && v6 != "":
		errs = append(errs, fmt.Errorf("%q and %q: give one address family per rule: %w", v4, v6, cidrErr))
	case v4 == "" && v6 == "":
		if len(s.Unsupported) == 0 {
			errs = append(errs, missing)
		}
	default:
		c, err := ParseRuleCIDR(v4+v6, v6 != "")
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %v", cidrErr, err))
		}
		r.CIDR = c
	}
	r.Policy = strings.ToLower(s.Policy)
	if r.Policy == "" {
		r.Policy = PolicyAccept
	}
	if r.Policy != PolicyAccept && r.Policy != PolicyDrop {
		errs = append(errs, fmt.Errorf("%q: %w", s.Policy, ErrRulePolicy))
	}
	r.Priority = 1
	if s.Priority != "" {
		n, err := strconv.Atoi(s.Priority)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%q: %w", s.Priority, ErrPriority))
		case n < 1 || n > 100:
			errs = append(errs, fmt.Errorf("%q: %w", s.Priority, ErrPriorityRange))
		}
		r.Priority = n
	}
	r.NicType = strings.ToLower(s.NicType)
	if r.NicType == "" {
		r.NicType = "intranet"
	}
	if r.NicType != "intranet" && r.NicType != "internet" {
		errs = append(errs, fmt.Errorf("%q: %w", s.NicType, ErrNicType))
	}
	if n := len([]rune(s.Description)); n > MaxDescriptionLen {
		errs = append(errs, fmt.Errorf("%d characters: %w", n, ErrRuleDescription))
	}
	return r, errors.Join(errs...)
}

// ParsePortRange parses "start/end" (1 <= start <= end <= 65535) or "-1/-1" (lo = hi = -1).
func ParsePortRange(s string) (lo, hi int, err error) {
	if s == "-1/-1" {
		return -1, -1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi || a != strconv.Itoa(lo) || b != strconv.Itoa(hi) {
		return 0, 0, fmt.Errorf("%q: %w", s, ErrPortRange)
	}
	return lo, hi, nil
}

// ParseRuleCIDR parses a rule's address or block (IPv4, or IPv6 when v6) into canonical text: a single
// address as a /32 or /128 block is written as the address alone; 0.0.0.0/0 and ::/0 are allowed; a
// block with host bits set is refused with the canonical form in the error.
func ParseRuleCIDR(s string, v6 bool) (string, error) {
	p, err := allowlist.ParseEntry(s)
	if err != nil {
		return "", err
	}
	if p.Addr().Is6() != v6 {
		if v6 {
			return "", fmt.Errorf("%q is not an IPv6 address or block", s)
		}
		return "", fmt.Errorf("%q is not an IPv4 address or block (use Ipv6SourceCidrIp/Ipv6DestCidrIp for IPv6)", s)
	}
	return allowlist.FormatEntry(p), nil
}

// Prefix returns the rule's CIDR as a prefix.
func (r Rule) Prefix() netip.Prefix {
	p, _ := allowlist.ParseEntry(r.CIDR)
	return p
}

// Key is what identifies a rule's effect: two rules with the same Key are duplicates (ECS: authorizing
// a rule that exists succeeds and creates nothing). The description is not part of it.
func (r Rule) Key() string {
	return fmt.Sprintf("%s %s %s %s %s %d %s", r.Direction, r.Protocol, r.PortRange, r.CIDR, r.Policy, r.Priority, r.NicType)
}

// SortRules orders rules the way they are evaluated: by direction (ingress first), then priority
// (smaller first), drop before accept at equal priority, then in the given order.
func SortRules(rules []Rule) {
	sort.SliceStable(rules, func(i, j int) bool {
		a, b := rules[i], rules[j]
		if a.Direction != b.Direction {
			return a.Direction == Ingress
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.Policy == PolicyDrop && b.Policy != PolicyDrop
	})
}

// Validate checks a stored group: ID, name, description, VPC, members (valid, sorted, unique) and rules
// (canonical, unique IDs and keys, at most 200).
func (g SecurityGroup) Validate() error {
	var errs []error
	for _, err := range []error{CheckSecurityGroupID(g.ID), CheckSecurityGroupName(g.Name),
		CheckSecurityGroupDescription(g.Description), CheckVpcID(g.VpcID)} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i, m := range g.Members {
		if err := CheckHostID(m); err != nil {
			errs = append(errs, err)
		}
		if i > 0 && g.Members[i-1] >= m {
			errs = append(errs, fmt.Errorf("security group %q: members not sorted or listed twice at %q", g.ID, m))
		}
	}
	if len(g.Rules) > MaxRulesPerGroup {
		errs = append(errs, fmt.Errorf("security group %q: %d rules: %w", g.ID, len(g.Rules), ErrTooManyRules))
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for _, r := range g.Rules {
		spec := r.Spec()
		c, err := spec.Rule()
		c.ID, c.Created = r.ID, r.Created
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("security group %q rule %q: %w", g.ID, r.ID, err))
		case c != r:
			errs = append(errs, fmt.Errorf("security group %q rule %q: not canonical", g.ID, r.ID))
		case ids[r.ID] || !strings.HasPrefix(r.ID, "sgr-"):
			errs = append(errs, fmt.Errorf("security group %q rule %q: bad or repeated rule ID", g.ID, r.ID))
		case keys[r.Key()]:
			errs = append(errs, fmt.Errorf("security group %q rule %q: duplicate of another rule", g.ID, r.ID))
		}
		ids[r.ID], keys[r.Key()] = true, true
	}
	return errors.Join(errs...)
}

// Spec returns the rule as ECS parameters (the inverse of RuleSpec.Rule).
func (r Rule) Spec() RuleSpec {
	s := RuleSpec{Direction: r.Direction, IpProtocol: r.Protocol, PortRange: r.PortRange, Policy: r.Policy,
		Priority: strconv.Itoa(r.Priority), NicType: r.NicType, Description: r.Description}
	v6 := strings.Contains(r.CIDR, ":")
	switch {
	case r.Direction == Egress && v6:
		s.Ipv6DestCidrIp = r.CIDR
	case r.Direction == Egress:
		s.DestCidrIp = r.CIDR
	case v6:
		s.Ipv6SourceCidrIp = r.CIDR
	default:
		s.SourceCidrIp = r.CIDR
	}
	return s
}
