package controlplane

// Security-group rules (SPEC SG4): authorize and revoke; rules are for hosts and never change instance access.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// AuthorizeRules adds rules to a group. A rule equal to one the group has (same Key) is not added again
// and is not an error (ECS). It returns the rules as stored, new ones with their IDs. Rules do not
// affect instance access (SG4), so no snapshot changes.
func (p *Plane) AuthorizeRules(a Actor, sg string, rules []model.Rule) ([]model.Rule, error) {
	var out []model.Rule
	action := "AuthorizeSecurityGroup"
	if len(rules) > 0 && rules[0].Direction == model.Egress {
		action = "AuthorizeSecurityGroupEgress"
	}
	err := p.modifyGroup(a, action, sg, func(_ store.Tx, g *model.SecurityGroup) (bool, error) {
		now := p.now().Format(timeFormat)
		for _, r := range rules {
			if i := slices.IndexFunc(g.Rules, func(x model.Rule) bool { return x.Key() == r.Key() }); i >= 0 {
				out = append(out, g.Rules[i])
				continue
			}
			r.ID, r.Created = model.NewRuleID(), now
			g.Rules = append(g.Rules, r)
			out = append(out, r)
		}
		if len(g.Rules) > model.MaxRulesPerGroup {
			return false, fmt.Errorf("security group %q would have %d rules: %w", sg, len(g.Rules), model.ErrTooManyRules)
		}
		return false, nil
	})
	return out, err
}

// RevokeRules removes rules of one direction from a group: those with the given IDs (each must exist
// and have that direction) and those equal (same Key) to the given rules (no match is not an error, as
// ECS). It returns how many were removed.
func (p *Plane) RevokeRules(a Actor, sg, direction string, rules []model.Rule, ids []string) (int, error) {
	removed := 0
	action := "RevokeSecurityGroup"
	if direction == model.Egress {
		action = "RevokeSecurityGroupEgress"
	}
	err := p.modifyGroup(a, action, sg, func(_ store.Tx, g *model.SecurityGroup) (bool, error) {
		drop := map[string]bool{}
		var errs []error
		for _, id := range ids {
			i := slices.IndexFunc(g.Rules, func(x model.Rule) bool { return x.ID == id && x.Direction == direction })
			if i < 0 {
				errs = append(errs, fmt.Errorf("%s rule %q in security group %q: %w", direction, id, sg, ErrRuleNotFound))
				continue
			}
			drop[id] = true
		}
		if err := errors.Join(errs...); err != nil {
			return false, err
		}
		for _, r := range rules {
			for _, x := range g.Rules {
				if x.Key() == r.Key() {
					drop[x.ID] = true
				}
			}
		}
		n := len(g.Rules)
		g.Rules = slices.DeleteFunc(g.Rules, func(x model.Rule) bool { return drop[x.ID] })
		removed = n - len(g.Rules)
		return false, nil
	})
	return removed, err
}
