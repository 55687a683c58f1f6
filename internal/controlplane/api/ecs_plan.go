package api

// Batch security-group management: export, plan, apply, and rulesets rendered for hosts.

import (
	"sort"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/firewall"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// exportSecurityGroups returns the groups (all, or those in SecurityGroupIds) in the desired-state
// form PlanSecurityGroups and ApplySecurityGroups take.
func exportSecurityGroups(c *call) (any, error) {
	all, err := c.h.plane.SecurityGroups()
	if err != nil {
		return nil, err
	}
	ids := idSet(c.params.Get("SecurityGroupIds"))
	out := []model.DesiredGroup{}
	for _, g := range all {
		if len(ids) == 0 || ids[g.ID] {
			model.SortRules(g.Rules)
			out = append(out, g.Desired())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return model.Desired{SecurityGroups: out}, nil
}

func desired(c *call) (d model.Desired, err error) {
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
		return nil, errRulesetFormat
	}
	g, err := c.h.plane.SecurityGroup(id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SecurityGroupId": g.ID, "RulesetFormat": "nftables", "Ruleset": firewall.Nftables(g)}, nil
}
