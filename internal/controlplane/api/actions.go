package api

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/snapshot"
)

// parseAddr parses a client address, IPv4-mapped IPv6 judged as IPv4 (W8).
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, err
	}
	return a.Unmap(), nil
}

// table lists every action moat answers.
func (h *Handler) table() map[string]action {
	kv := []string{VersionKVStore}
	inst := []string{"InstanceId"}
	return map[string]action{
		"DescribeSecurityIps":       {kv, inst, describeSecurityIps},
		"ModifySecurityIps":         {kv, inst, modifySecurityIps},
		"DeleteSecurityIpGroup":     {kv, inst, deleteSecurityIpGroup},
		"CheckAccess":               {kv, inst, checkAccess},
		"DescribeInstances":         {kv, nil, describeInstances},
		"DescribeInstanceAttribute": {kv, inst, describeInstanceAttribute},
		"CreateInstance":            {kv, inst, createInstance},
		"DeleteInstance":            {kv, inst, deleteInstance},
		"DescribeParameters":        {kv, []string{"DBInstanceId", "InstanceId"}, describeParameters},
		"ModifyInstanceConfig":      {kv, inst, modifyInstanceConfig},
		"CreateAccessKey":           {kv, nil, createAccessKey},
		"DeleteAccessKey":           {kv, nil, deleteAccessKey},
		"DescribeAccessKeys":        {kv, nil, describeAccessKeys},
		"DescribeAuditLogs":         {kv, inst, describeAuditLogs},

		// Security groups bound to an instance (sgconfig.go); ECS actions are in ecs.go.
		"DescribeSecurityGroupConfiguration": {kv, inst, describeSecurityGroupConfiguration},
		"ModifySecurityGroupConfiguration":   {kv, []string{"DBInstanceId", "InstanceId"}, modifySecurityGroupConfiguration},

		// Recent refused connections of an instance (activity.go).
		"DescribeRefusedConnections": {kv, inst, describeRefusedConnections},

		// Accounts: the R-kvstore actions (accounts.go) and moat's own over raw ACL users (aclusers.go).
		"CreateAccount":            {kv, inst, createAccount},
		"DescribeAccounts":         {kv, inst, describeAccounts},
		"ModifyAccountDescription": {kv, inst, modifyAccountDescription},
		"ResetAccountPassword":     {kv, inst, resetAccountPassword},
		"GrantAccountPrivilege":    {kv, inst, grantAccountPrivilege},
		"DeleteAccount":            {kv, inst, deleteAccount},
		"DescribeACLUsers":         {kv, inst, describeACLUsers},
		"ModifyACLUser":            {kv, inst, modifyACLUser},
		"DeleteACLUser":            {kv, inst, deleteACLUser},
		"ImportACL":                {kv, inst, importACL},
		"ExportACL":                {kv, inst, exportACL},
		"ModifyAccountSources":     {kv, inst, modifyAccountSources},
	}
}

// ipGroup is one group as DescribeSecurityIps shows it.
type ipGroup struct {
	SecurityIpGroupName      string
	SecurityIpGroupAttribute string
	SecurityIpList           string
}

func describeSecurityIps(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	in, err := c.h.plane.Instance(id)
	if err != nil {
		return nil, err
	}
	groups := []ipGroup{}
	for _, g := range in.Groups {
		groups = append(groups, ipGroup{g.Name, g.Attribute, allowlist.FormatList(g.Entries)})
	}
	return map[string]any{"SecurityIpGroups": map[string]any{"SecurityIpGroup": groups}}, nil
}

func modifySecurityIps(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	ips, err := c.required("SecurityIps")
	if err != nil {
		return nil, err
	}
	mode, err := allowlist.ParseMode(c.params.Get("ModifyMode"))
	if err != nil {
		return nil, err
	}
	warnings, err := c.h.plane.ModifySecurityIps(c.actor, id, allowlist.Change{
		Group:     c.params.Get("SecurityIpGroupName"),
		Attribute: c.params.Get("SecurityIpGroupAttribute"),
		Mode:      mode,
		Entries:   ips,
	})
	if err != nil {
		return nil, err
	}
	if len(warnings) > 0 {
		// W7: the SDK ignores fields it does not know; moat's CLI prints these.
		return map[string]any{"MoatWarnings": warnings}, nil
	}
	return map[string]any{}, nil
}

func deleteSecurityIpGroup(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	group, err := c.required("SecurityIpGroupName")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteGroup(c.actor, id, group, false)
}

// checkAccess is the dry run (API6): would a client from SourceIp be admitted, and why.
func checkAccess(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	src, err := c.required("SourceIp")
	if err != nil {
		return nil, err
	}
	addr, err := parseAddr(src)
	if err != nil {
		return nil, invalid("InvalidSourceIp.Malformed", fmt.Sprintf("SourceIp %q is not an IP address", src))
	}
	in, err := c.h.plane.Instance(id)
	if err != nil {
		return nil, err
	}
	snap, err := c.h.plane.CompileInstance(in) // the data plane's own compilation, security groups included
	if err != nil {
		return nil, err
	}
	v := admission(snap, addr)
	matches := []map[string]string{}
	for _, m := range v.Matches {
		matches = append(matches, map[string]string{"Group": m.Group, "Entry": m.Entry, "SecurityGroup": m.SecurityGroup, "Host": m.Host})
	}
	out := map[string]any{"InstanceId": id, "SourceIp": addr.String(), "Allowed": v.Allowed, "Reason": v.Reason, "Matches": matches}
	if name := c.params.Get("UserName"); name != "" {
		out["User"] = c.withLockout(userVerdict(in, snap, name, addr), id, addr)
	}
	return out, nil
}

// admission is the accept-time verdict on addr, as the gateway decides it: the whitelist and bound
// security groups (W6), password-free VPC access (W11), then protected mode (N2).
func admission(snap *snapshot.Snapshot, addr netip.Addr) allowlist.Verdict {
	v := snap.Allow.Explain(addr)
	vpc := snap.PasswordFree(addr)
	switch {
	case !v.Allowed && vpc && !snap.WhitelistAlways:
		v.Allowed = true
		v.Reason = "allowed without the whitelist: a client of the instance's VPC with password-free VPC access (vpc-password-free, vpc-cidr); it needs no password"
		return v
	case v.Allowed && vpc:
		v.Reason += "; a client of the instance's VPC: it needs no password (password-free VPC access)"
	}
	if v.Allowed && snap.DeniesNonLocal() && !addr.IsLoopback() && !vpc {
		v.Allowed = false
		v.Reason = "refused by protected mode: the default user has no password and the address is not loopback (set requirepass, or protected-mode no); the whitelist alone would admit it: " + v.Reason
	}
	return v
}

// loginVerdict says whether a client from an address may log in as a user (A4), beside the verdict on
// the connection: the user exists and is on, and its source restriction, if any, admits the address.
// The password is not judged. A client can log in only when both verdicts allow it.
type loginVerdict struct {
	UserName         string
	Exists           bool
	Enabled          bool
	SourceRestricted bool
	Sources          []string      // the restriction as stored: addresses, blocks, group names
	Allowed          bool          // AUTH as the user from the address is not refused for who or where
	Reason           string        // one sentence saying why
	Matches          []sourceMatch // the source entries that admit the address
	// LockedOut: the brute-force lockout refuses this login now, until LockedUntil (RFC 3339).
	LockedOut   bool
	LockedUntil string `json:",omitempty"`
}

// sourceMatch is one entry of a user's sources that admits an address: Group is the whitelist group it
// comes from, "" for an address or block listed for the user itself.
type sourceMatch struct{ Group, Entry string }

func userVerdict(in model.Instance, snap *snapshot.Snapshot, name string, addr netip.Addr) loginVerdict {
	v := loginVerdict{UserName: name, Sources: in.UserSources[name], Matches: []sourceMatch{}}
	if v.Sources == nil {
		v.Sources = []string{}
	}
	u := snap.Users.Get(name)
	switch {
	case u == nil:
		v.Reason = fmt.Sprintf("user %q does not exist: AUTH gets WRONGPASS", name)
		return v
	case !u.Enabled():
		v.Exists = true
		v.Reason = fmt.Sprintf("user %q is off: AUTH gets WRONGPASS", name)
		return v
	}
	v.Exists, v.Enabled = true, true
	set := snap.UserSources[name]
	if set == nil {
		v.Allowed = true
		v.Reason = fmt.Sprintf("user %q is on and may log in from any address the instance admits", name)
		return v
	}
	v.SourceRestricted = true
	e := set.Explain(addr)
	for _, m := range e.Matches {
		if strings.HasPrefix(m.Group, "user:") {
			m.Group = "" // the user's own entry (UserSources), not a whitelist group
		}
		v.Matches = append(v.Matches, sourceMatch{m.Group, m.Entry})
	}
	v.Allowed = e.Allowed
	switch {
	case e.Allowed && v.Matches[0].Group == "":
		v.Reason = fmt.Sprintf("user %q may log in from %s: its source entry %s admits it", name, addr, v.Matches[0].Entry)
	case e.Allowed:
		v.Reason = fmt.Sprintf("user %q may log in from %s: whitelist group %q entry %s admits it", name, addr, v.Matches[0].Group, v.Matches[0].Entry)
	case strings.HasPrefix(e.Reason, "no group"):
		v.Reason = fmt.Sprintf("user %q may not log in from %s: none of its sources (%s) admits it; AUTH gets WRONGPASS", name, addr, strings.Join(v.Sources, ","))
	default:
		v.Reason = fmt.Sprintf("user %q may not log in from %s: in its sources (%s) %s; AUTH gets WRONGPASS", name, addr, strings.Join(v.Sources, ","), e.Reason)
	}
	return v
}
