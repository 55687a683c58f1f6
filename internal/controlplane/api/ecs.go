package api

// ECS 2014-05-26 action table, action lookup and the parameter helpers the ECS actions share.

import (
	"encoding/json"
	"strings"

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

// idSet is the set of IDs in an ECS list parameter (see idList); empty when it is not set.
func idSet(list string) map[string]bool {
	set := map[string]bool{}
	for _, id := range idList(list) {
		set[id] = true
	}
	return set
}

// pageOf returns page number page (from 1) of list, size items a page; past the end it is empty.
func pageOf[T any](list []T, page, size int) []T {
	start := min((page-1)*size, len(list))
	return list[start:min(start+size, len(list))]
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
