package api

import (
	"net/netip"

	"github.com/moat-dev/moat/internal/allowlist"
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
	in, err := c.loadInstance()
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
