package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/firewall"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// ECS 2014-05-26: security groups, their rules and hosts (SPEC SG1, SG5, API1). Actions are looked up
// by Action and Version: DescribeInstances under 2014-05-26 lists hosts, under 2015-01-01 instances.
// Where ECS has no action (registering a host) moat names its own: CreateHost, ModifyHost, DeleteHost,
// and for batch management ExportSecurityGroups, PlanSecurityGroups, ApplySecurityGroups and
// RenderSecurityGroup (rulesets for hosts to enforce).

// ecsTable lists the ECS actions. None names an R-kvstore instance, so a key needs the instance
// pattern "*" to call them.
func (h *Handler) ecsTable() map[string]action {
	ecs := []string{VersionECS}
	return map[string]action{
		"CreateSecurityGroup":            {ecs, nil, createSecurityGroup},
		"DeleteSecurityGroup":            {ecs, nil, deleteSecurityGroup},
		"DescribeSecurityGroups":         {ecs, nil, describeSecurityGroups},
		"ModifySecurityGroupAttribute":   {ecs, nil, modifySecurityGroupAttribute},
		"JoinSecurityGroup":              {ecs, nil, joinSecurityGroup},
		"LeaveSecurityGroup":             {ecs, nil, leaveSecurityGroup},
		"AuthorizeSecurityGroup":         {ecs, nil, authorize(model.Ingress)},
		"AuthorizeSecurityGroupEgress":   {ecs, nil, authorize(model.Egress)},
		"RevokeSecurityGroup":            {ecs, nil, revoke(model.Ingress)},
		"RevokeSecurityGroupEgress":      {ecs, nil, revoke(model.Egress)},
		"DescribeSecurityGroupAttribute": {ecs, nil, describeSecurityGroupAttribute},
		"DescribeInstances":              {ecs, nil, describeHosts},
		"CreateHost":                     {ecs, nil, createHost},
		"ModifyHost":                     {ecs, nil, modifyHost},
		"DeleteHost":                     {ecs, nil, deleteHost},
		"ExportSecurityGroups":           {ecs, nil, exportSecurityGroups},
		"PlanSecurityGroups":             {ecs, nil, planSecurityGroups},
		"ApplySecurityGroups":            {ecs, nil, applySecurityGroups},
		"RenderSecurityGroup":            {ecs, nil, renderSecurityGroup},
	}
}

// lookup finds the action a call names. Under 2014-05-26 the ECS table answers first; an action that
// exists only under the other version is returned so that the caller's version check names the right one.
func (h *Handler) lookup(name, version string) (action, bool) {
	if a, ok := h.ecs[name]; ok && version == VersionECS {
		return a, true
	}
	if a, ok := h.actions[name]; ok {
		return a, true
	}
	a, ok := h.ecs[name]
	return a, ok
}

// region is the RegionId echoed in ECS answers: the caller's, else "local".
func region(c *call) string { return first(c.params.Get("RegionId"), "local") }

// has reports whether a parameter is present, even empty.
func (c *call) has(name string) bool {
	_, ok := c.params[name]
	return ok
}

// idList reads an ECS list parameter: a JSON array of strings (`["sg-1","sg-2"]`) or a comma list.
func idList(s string) []string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var out []string
		if json.Unmarshal([]byte(s), &out) == nil {
			return out
		}
	}
	return splitList(s)
}

func createSecurityGroup(c *call) (any, error) {
	g := model.SecurityGroup{ID: c.params.Get("SecurityGroupId"), Name: c.params.Get("SecurityGroupName"),
		Description: c.params.Get("Description"), VpcID: c.params.Get("VpcId")}
	if t := c.params.Get("SecurityGroupType"); t != "" && t != "normal" {
		return nil, invalid("InvalidSecurityGroupType.NotSupported", "moat's security groups are basic ones: SecurityGroupType must be normal.")
	}
	g, err := c.h.plane.CreateSecurityGroup(c.actor, g)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SecurityGroupId": g.ID}, nil
}

func deleteSecurityGroup(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteSecurityGroup(c.actor, id)
}

func modifySecurityGroupAttribute(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	var name, desc *string
	if c.has("SecurityGroupName") {
		v := c.params.Get("SecurityGroupName")
		if err := model.CheckSecurityGroupName(v); err != nil {
			return nil, err
		}
		name = &v
	}
	if c.has("Description") {
		v := c.params.Get("Description")
		if err := model.CheckSecurityGroupDescription(v); err != nil {
			return nil, err
		}
		desc = &v
	}
	return map[string]any{}, c.h.plane.ModifySecurityGroupAttribute(c.actor, id, name, desc)
}

// sgView is a group as DescribeSecurityGroups shows it (the SDK's ecs.SecurityGroup), plus moat's
// MoatMembers and MoatBoundInstances, which the SDK ignores.
type sgView struct {
	SecurityGroupId    string
	SecurityGroupName  string
	Description        string
	SecurityGroupType  string
	VpcId              string
	CreationTime       string
	EcsCount           int
	RuleCount          int
	ServiceManaged     bool
	MoatMembers        []string
	MoatBoundInstances []string
}

func describeSecurityGroups(c *call) (any, error) {
	all, err := c.h.plane.SecurityGroups()
	if err != nil {
		return nil, err
	}
	bound, err := c.h.plane.BoundInstances()
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, id := range append(idList(c.params.Get("SecurityGroupIds")), splitList(c.params.Get("SecurityGroupId"))...) {
		ids[id] = true
	}
	name, vpc := c.params.Get("SecurityGroupName"), c.params.Get("VpcId")
	fuzzy := c.params.Get("FuzzyQuery") == "true"
	page, size, err := paging(c)
	if err != nil {
		return nil, err
	}
	list := []sgView{}
	for _, g := range all {
		switch {
		case len(ids) > 0 && !ids[g.ID]:
			continue
		case name != "" && !fuzzy && g.Name != name, name != "" && fuzzy && !strings.Contains(g.Name, name):
			continue
		case vpc != "" && g.VpcID != vpc:
			continue
		}
		list = append(list, sgView{g.ID, g.Name, g.Description, "normal", g.VpcID, g.Created, len(g.Members),
			len(g.Rules), false, g.Members, orEmpty(bound[g.ID])})
	}
	total := len(list)
	start := min((page-1)*size, total)
	list = list[start:min(start+size, total)]
	return map[string]any{"RegionId": region(c), "TotalCount": total, "PageNumber": page, "PageSize": size,
		"NextToken": "", "SecurityGroups": map[string]any{"SecurityGroup": list}}, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func joinSecurityGroup(c *call) (any, error) {
	sg, host, err := membership(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.JoinSecurityGroup(c.actor, sg, host)
}

func leaveSecurityGroup(c *call) (any, error) {
	sg, host, err := membership(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.LeaveSecurityGroup(c.actor, sg, host)
}

func membership(c *call) (sg, host string, err error) {
	if sg, err = c.required("SecurityGroupId"); err != nil {
		return "", "", err
	}
	if c.params.Get("NetworkInterfaceId") != "" {
		return "", "", invalid("InvalidParameter.NotSupported", "moat's hosts have no elastic network interfaces: give InstanceId.")
	}
	host, err = c.required("InstanceId")
	return sg, host, err
}

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
				return nil, invalid("InvalidParameter.Permissions", fmt.Sprintf("parameter %q: N in Permissions.N must be 1 to %d", k, model.MaxPermissionsPerCall))
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
		return nil, invalid("InvalidDirection.Malformed", "Direction must be ingress, egress or all.")
	}
	nic := c.params.Get("NicType")
	if nic != "" && nic != "internet" && nic != "intranet" {
		return nil, fmt.Errorf("%q: %w", nic, model.ErrNicType)
	}
	limit := 500
	if s := c.params.Get("MaxResults"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 10 || limit > 1000 {
			return nil, invalid("InvalidMaxResults.Malformed", "MaxResults must be an integer from 10 to 1000.")
		}
	}
	start := 0
	if s := c.params.Get("NextToken"); s != "" {
		if start, err = strconv.Atoi(s); err != nil || start < 0 {
			return nil, invalid("InvalidNextToken.Malformed", "NextToken is not one this API returned.")
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

// hostView is a host as ECS DescribeInstances shows an instance (the SDK's ecs.Instance fields that apply).
type hostView struct {
	InstanceId          string
	InstanceName        string
	HostName            string
	Status              string
	InstanceNetworkType string
	RegionId            string
	VpcAttributes       vpcAttributes
	InnerIpAddress      ipList
	PublicIpAddress     ipList
	SecurityGroupIds    struct{ SecurityGroupId []string }
	MoatHostKind        string // ecs or eci
}

type vpcAttributes struct {
	VpcId            string
	PrivateIpAddress ipList
}

type ipList struct{ IpAddress []string }

func viewHost(h model.Host, groups []string, regionID string) hostView {
	v := hostView{InstanceId: h.ID, InstanceName: h.Name, HostName: h.Name, Status: "Running", InstanceNetworkType: "vpc",
		RegionId: regionID, VpcAttributes: vpcAttributes{h.VpcID, ipList{orEmpty(h.PrivateIPs)}},
		InnerIpAddress: ipList{[]string{}}, PublicIpAddress: ipList{[]string{}}, MoatHostKind: h.Kind()}
	if h.VpcID == "" {
		v.InstanceNetworkType = "classic"
		v.InnerIpAddress.IpAddress = orEmpty(h.PrivateIPs)
	}
	if h.PublicIP != "" {
		v.PublicIpAddress.IpAddress = []string{h.PublicIP}
	}
	v.SecurityGroupIds.SecurityGroupId = orEmpty(groups)
	return v
}

// describeHosts is ECS DescribeInstances: the registered hosts, filtered by InstanceIds, InstanceName
// (with * wildcards), PrivateIpAddresses, PublicIpAddresses, SecurityGroupId and VpcId, paged.
func describeHosts(c *call) (any, error) {
	if !c.key.Allows(c.action, "") {
		return nil, errForbidden // DescribeInstances allowed on some R-kvstore instances does not list hosts
	}
	hosts, err := c.h.plane.Hosts()
	if err != nil {
		return nil, err
	}
	member, err := c.h.plane.HostGroups()
	if err != nil {
		return nil, err
	}
	set := func(p string) map[string]bool {
		m := map[string]bool{}
		for _, v := range idList(c.params.Get(p)) {
			m[v] = true
		}
		return m
	}
	ids, privs, pubs := set("InstanceIds"), set("PrivateIpAddresses"), set("PublicIpAddresses")
	name, sg, vpc := c.params.Get("InstanceName"), c.params.Get("SecurityGroupId"), c.params.Get("VpcId")
	page, size, err := paging(c)
	if err != nil {
		return nil, err
	}
	list := []hostView{}
	for _, h := range hosts {
		switch {
		case len(ids) > 0 && !ids[h.ID]:
		case name != "" && !matchName(name, h.Name):
		case len(privs) > 0 && !anyIn(h.PrivateIPs, privs):
		case len(pubs) > 0 && !pubs[h.PublicIP]:
		case sg != "" && !contains(member[h.ID], sg):
		case vpc != "" && h.VpcID != vpc:
		default:
			list = append(list, viewHost(h, member[h.ID], region(c)))
		}
	}
	total := len(list)
	start := min((page-1)*size, total)
	list = list[start:min(start+size, total)]
	return map[string]any{"Instances": map[string]any{"Instance": list}, "TotalCount": total,
		"PageNumber": page, "PageSize": size, "NextToken": ""}, nil
}

// matchName matches an ECS InstanceName filter: exact, or with * standing for any characters.
func matchName(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	rest := name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

func anyIn(list []string, set map[string]bool) bool {
	for _, v := range list {
		if set[v] {
			return true
		}
	}
	return false
}

// hostAddrs reads PrivateIpAddress (a comma list or JSON array) and PublicIpAddress into canonical form.
func hostAddrs(c *call, h *model.Host) error {
	if c.has("PrivateIpAddress") {
		h.PrivateIPs = nil
		for _, s := range idList(c.params.Get("PrivateIpAddress")) {
			a, err := model.ParseHostAddr(s)
			if err != nil {
				return err
			}
			h.PrivateIPs = append(h.PrivateIPs, a)
		}
	}
	if c.has("PublicIpAddress") {
		h.PublicIP = ""
		if s := c.params.Get("PublicIpAddress"); s != "" {
			a, err := model.ParseHostAddr(s)
			if err != nil {
				return err
			}
			h.PublicIP = a
		}
	}
	return nil
}

// createHost registers a host (moat): InstanceId (default generated "i-…"), InstanceName,
// PrivateIpAddress (comma list, at least one), PublicIpAddress, VpcId.
func createHost(c *call) (any, error) {
	h := model.Host{ID: first(c.params.Get("InstanceId"), model.NewHostID()), Name: c.params.Get("InstanceName"),
		VpcID: c.params.Get("VpcId")}
	if err := hostAddrs(c, &h); err != nil {
		return nil, err
	}
	if err := c.h.plane.CreateHost(c.actor, h); err != nil {
		return nil, err
	}
	return map[string]any{"InstanceId": h.ID}, nil
}

// modifyHost changes a host (moat): the parameters given replace the host's (an empty PublicIpAddress
// removes it).
func modifyHost(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	var probe model.Host
	if err := hostAddrs(c, &probe); err != nil {
		return nil, err
	}
	h, err := c.h.plane.ModifyHost(c.actor, id, func(h *model.Host) {
		if c.has("InstanceName") {
			h.Name = c.params.Get("InstanceName")
		}
		if c.has("VpcId") {
			h.VpcID = c.params.Get("VpcId")
		}
		hostAddrs(c, h)
	})
	if err != nil {
		return nil, err
	}
	groups, _ := c.h.plane.HostGroups()
	return map[string]any{"Instance": viewHost(h, groups[id], region(c))}, nil
}

func deleteHost(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteHost(c.actor, id)
}

// exportSecurityGroups returns the groups (all, or those in SecurityGroupIds) in the desired-state
// form PlanSecurityGroups and ApplySecurityGroups take.
func exportSecurityGroups(c *call) (any, error) {
	all, err := c.h.plane.SecurityGroups()
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, id := range idList(c.params.Get("SecurityGroupIds")) {
		ids[id] = true
	}
	out := []model.SecurityGroup{}
	for _, g := range all {
		if len(ids) == 0 || ids[g.ID] {
			model.SortRules(g.Rules)
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return map[string]any{"security_groups": out}, nil
}

func desired(c *call) (d controlplane.Desired, err error) {
	raw, err := c.required("Desired")
	if err != nil {
		return d, err
	}
	return controlplane.ParseDesired([]byte(raw))
}

func planSecurityGroups(c *call) (any, error) {
	d, err := desired(c)
	if err != nil {
		return nil, err
	}
	plan, err := c.h.plane.PlanSecurityGroups(d)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Plan": plan}, nil
}

func applySecurityGroups(c *call) (any, error) {
	d, err := desired(c)
	if err != nil {
		return nil, err
	}
	plan, err := c.h.plane.ApplySecurityGroups(c.actor, d)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Plan": plan}, nil
}

func renderSecurityGroup(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	// Not "Format": that is the RPC protocol's own parameter (the answer's format), which the SDK always
	// sets to JSON.
	if f := first(c.params.Get("RulesetFormat"), "nftables"); f != "nftables" {
		return nil, &Error{http.StatusBadRequest, "InvalidRulesetFormat.ValueNotSupported", "RulesetFormat must be nftables."}
	}
	g, err := c.h.plane.SecurityGroup(id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SecurityGroupId": g.ID, "RulesetFormat": "nftables", "Ruleset": firewall.Nftables(g)}, nil
}
