package controlplane

// Batch security-group management (SPEC SG5): desired state, plan, apply.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Batch management of security groups (SG5): a desired state is compared with the stored one into a
// plan (what would be created, added, removed, changed), which can be shown and then applied as one
// durable, audited change — all of it or none.
//
// The desired state has the shape `moat sg export --format json` prints, so an export fed back plans no
// change. Groups not named in it are left alone; a group's `members` or `rules`, when absent, are left
// alone too, and when present replace the group's set.

// ErrDesired wraps every problem in a desired state.
var ErrDesired = errors.New("invalid desired state")

// The desired-state document is model.Desired, which export, plan, apply and the CLI share.

// ParseDesired decodes a desired state (JSON), refusing unknown fields.
func ParseDesired(b []byte) (model.Desired, error) {
	var d model.Desired
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%w: %v", ErrDesired, err)
	}
	return d, nil
}

// Plan is the change set from the stored state to a desired one.
type Plan struct {
	Groups []GroupPlan `json:"groups"` // only groups that change, in the desired state's order
	// Counts.
	Create, Add, Change, Remove, Join, Leave int
}

// Empty says the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Groups) == 0 }

// GroupPlan is what changes in one group.
type GroupPlan struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	Create       bool         `json:"create,omitempty"`
	Renamed      []string     `json:"renamed,omitempty"`     // [before, after]
	Redescribed  []string     `json:"redescribed,omitempty"` // [before, after]
	Joined       []string     `json:"joined,omitempty"`      // host IDs
	Left         []string     `json:"left,omitempty"`        // host IDs
	AddedRules   []model.Rule `json:"added_rules,omitempty"` // IDs assigned when applied
	RemovedRules []model.Rule `json:"removed_rules,omitempty"`
	ChangedRules []RuleChange `json:"changed_rules,omitempty"`
	Instances    []string     `json:"instances,omitempty"` // bound instances whose allow set changes
}

// RuleChange is a rule before and after.
type RuleChange struct {
	Before model.Rule `json:"before"`
	After  model.Rule `json:"after"`
}

// PlanSecurityGroups compares the desired state with the stored one, changing nothing.
func (p *Plane) PlanSecurityGroups(d model.Desired) (Plan, error) {
	var plan Plan
	err := p.store.View(func(tx store.Tx) error {
		var err error
		plan, _, err = makePlan(tx, d, "")
		return err
	})
	return plan, err
}

// ApplySecurityGroups makes the stored state the desired one in one transaction with one audit entry,
// then publishes the snapshot of every instance whose bound groups' membership changed. It returns the
// plan it applied (with the new rules' IDs).
func (p *Plane) ApplySecurityGroups(a Actor, d model.Desired) (Plan, error) {
	var plan Plan
	var affected []model.Instance
	err := p.sgChange(a, "ApplySecurityGroups", func(tx store.Tx) (record, error) {
		var groups []groupChange
		var err error
		plan, groups, err = makePlan(tx, d, p.now().Format(timeFormat))
		if err != nil || plan.Empty() {
			return record{unchanged: true}, err
		}
		var before, after []model.SecurityGroup
		var access []string
		for i, g := range groups {
			if !g.create {
				before = append(before, g.before)
			}
			after = append(after, g.after)
			if err := putGroup(tx, g.after); err != nil {
				return record{}, err
			}
			if len(plan.Groups[i].Joined)+len(plan.Groups[i].Left) > 0 {
				access = append(access, g.after.ID)
			}
		}
		if affected, err = boundTo(tx, access...); err != nil {
			return record{}, err
		}
		if len(access) == 0 {
			affected = nil
		}
		return record{before: before, after: after, affected: affected}, nil
	})
	return plan, err
}

// groupChange is one group's state before and after a plan.
type groupChange struct {
	create        bool
	before, after model.SecurityGroup
}

// makePlan computes the plan and the groups it would store. now is the creation time of new groups and
// rules ("" when only planning: new rules then have no ID).
func makePlan(tx store.Tx, d model.Desired, now string) (Plan, []groupChange, error) {
	current, err := listJSON[model.SecurityGroup](tx, sgPrefix)
	if err != nil {
		return Plan{}, nil, err
	}
	hosts, err := listJSON[model.Host](tx, hostPrefix)
	if err != nil {
		return Plan{}, nil, err
	}
	instances, err := listJSON[model.Instance](tx, instancePrefix)
	if err != nil {
		return Plan{}, nil, err
	}
	byID := map[string]model.SecurityGroup{}
	byName := map[string][]string{}
	for _, g := range current {
		byID[g.ID] = g
		byName[g.Name] = append(byName[g.Name], g.ID)
	}
	hostIDs := map[string]bool{}
	for _, h := range hosts {
		hostIDs[h.ID] = true
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	var plan Plan
	var out []groupChange
	seen := map[string]bool{}
	membership := map[string][]string{} // host → groups after the plan
	after := map[string]model.SecurityGroup{}
	for _, g := range current {
		after[g.ID] = g
	}
	for i, dg := range d.SecurityGroups {
		path := fmt.Sprintf("security_groups[%d]", i)
		gc, ok := resolveGroup(dg, byID, byName, path, bad)
		if !ok {
			continue
		}
		if seen[gc.before.ID] && gc.before.ID != "" {
			bad(path, "security group %s is listed twice", gc.before.ID)
			continue
		}
		seen[gc.before.ID] = true
		gp, next, ok := planGroup(dg, gc, hostIDs, now, path, bad)
		if !ok {
			continue
		}
		if next.ID != "" {
			after[next.ID] = next
		} else {
			after[path] = next
		}
		if gp == nil {
			continue
		}
		for _, in := range instances {
			if (len(gp.Joined)+len(gp.Left) > 0) && slices.Contains(in.SecurityGroups, next.ID) {
				gp.Instances = append(gp.Instances, in.ID)
			}
		}
		gc.after = next
		plan.Groups = append(plan.Groups, *gp)
		out = append(out, gc)
		if gp.Create {
			plan.Create++
		}
		plan.Add += len(gp.AddedRules)
		plan.Remove += len(gp.RemovedRules)
		plan.Change += len(gp.ChangedRules) + len(gp.Renamed)/2 + len(gp.Redescribed)/2
		plan.Join += len(gp.Joined)
		plan.Leave += len(gp.Left)
	}
	for _, g := range after {
		for _, m := range g.Members {
			membership[m] = append(membership[m], g.ID)
		}
	}
	for h, gs := range membership {
		if len(gs) > model.MaxGroupsPerHost {
			sort.Strings(gs)
			errs = append(errs, fmt.Errorf("host %q would be in %v: %w", h, gs, model.ErrHostGroupQuota))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Plan{}, nil, fmt.Errorf("%w: %w", ErrDesired, err)
	}
	return plan, out, nil
}

// resolveGroup finds the stored group a desired one names, or prepares a new one.
func resolveGroup(dg model.DesiredGroup, byID map[string]model.SecurityGroup, byName map[string][]string, path string, bad func(string, string, ...any)) (groupChange, bool) {
	switch {
	case dg.ID != "":
		if err := model.CheckSecurityGroupID(dg.ID); err != nil {
			bad(path+".id", "%v", err)
			return groupChange{}, false
		}
		if g, ok := byID[dg.ID]; ok {
			return groupChange{before: g}, true
		}
		return groupChange{create: true, before: model.SecurityGroup{ID: dg.ID}}, true
	case dg.Name != nil && *dg.Name != "":
		ids := byName[*dg.Name]
		if len(ids) > 1 {
			bad(path+".name", "%q names %d security groups %v: give the id", *dg.Name, len(ids), ids)
			return groupChange{}, false
		}
		if len(ids) == 1 {
			return groupChange{before: byID[ids[0]]}, true
		}
		return groupChange{create: true}, true
	}
	bad(path, "give an id or a name")
	return groupChange{}, false
}

// planGroup computes one group's next state and what changes (nil when nothing does).
func planGroup(dg model.DesiredGroup, gc groupChange, hosts map[string]bool, now, path string, bad func(string, string, ...any)) (*GroupPlan, model.SecurityGroup, bool) {
	cur := gc.before
	next := cur
	next.Members = slices.Clone(cur.Members)
	next.Rules = slices.Clone(cur.Rules)
	if gc.create {
		if next.ID == "" && now != "" {
			next.ID = model.NewSecurityGroupID() // when only planning, a new group's ID stays ""
		}
		next.Created, next.VpcID = now, dg.VpcID
		next.Members, next.Rules = []string{}, []model.Rule{}
	} else if dg.VpcID != "" && dg.VpcID != cur.VpcID {
		bad(path+".vpc_id", "%q: the VPC of security group %s is %q and cannot change", dg.VpcID, cur.ID, cur.VpcID)
		return nil, next, false
	}
	ok := true
	gp := &GroupPlan{ID: next.ID, Create: gc.create}
	if dg.Name != nil && *dg.Name != cur.Name {
		if err := model.CheckSecurityGroupName(*dg.Name); err != nil {
			bad(path+".name", "%v", err)
			ok = false
		}
		if !gc.create {
			gp.Renamed = []string{cur.Name, *dg.Name}
		}
		next.Name = *dg.Name
	}
	if dg.Description != nil && *dg.Description != cur.Description {
		if err := model.CheckSecurityGroupDescription(*dg.Description); err != nil {
			bad(path+".description", "%v", err)
			ok = false
		}
		if !gc.create {
			gp.Redescribed = []string{cur.Description, *dg.Description}
		}
		next.Description = *dg.Description
	}
	gp.Name = next.Name
	if dg.Members != nil {
		want := map[string]bool{}
		for j, m := range *dg.Members {
			switch {
			case want[m]:
				bad(fmt.Sprintf("%s.members[%d]", path, j), "%q is listed twice", m)
				ok = false
			case !hosts[m]:
				bad(fmt.Sprintf("%s.members[%d]", path, j), "%q: %v", m, ErrHostNotFound)
				ok = false
			}
			want[m] = true
		}
		for _, m := range cur.Members {
			if !want[m] {
				gp.Left = append(gp.Left, m)
			}
		}
		for m := range want {
			if !slices.Contains(cur.Members, m) {
				gp.Joined = append(gp.Joined, m)
			}
		}
		sort.Strings(gp.Joined)
		next.Members = make([]string, 0, len(want))
		for m := range want {
			next.Members = append(next.Members, m)
		}
		sort.Strings(next.Members)
	}
	if dg.Rules != nil {
		if !planRules(*dg.Rules, cur.Rules, gp, &next, now, path, bad) {
			ok = false
		}
	}
	if !ok {
		return nil, next, false
	}
	if !gc.create && len(gp.Renamed)+len(gp.Redescribed)+len(gp.Joined)+len(gp.Left)+len(gp.AddedRules)+len(gp.RemovedRules)+len(gp.ChangedRules) == 0 {
		return nil, next, true
	}
	if err := next.Validate(); err != nil && now != "" {
		bad(path, "%v", err)
		return nil, next, false
	}
	return gp, next, true
}

// planRules replaces the group's rules with the desired ones: by ID first, then by effect.
func planRules(want []model.DesiredRule, cur []model.Rule, gp *GroupPlan, next *model.SecurityGroup, now, path string, bad func(string, string, ...any)) bool {
	ok := true
	if len(want) > model.MaxRulesPerGroup {
		bad(path+".rules", "%d rules: %v", len(want), model.ErrTooManyRules)
		return false
	}
	used := map[string]bool{} // current rule IDs kept or changed
	keys := map[string]bool{}
	type wanted struct {
		r  model.Rule
		id string // the current rule it matches ("" for a new rule)
	}
	var list []wanted
	parsed := make([]model.Rule, len(want))
	for j, dr := range want {
		rpath := fmt.Sprintf("%s.rules[%d]", path, j)
		r, err := dr.Spec().Rule()
		if err != nil {
			bad(rpath, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
			ok = false
			continue
		}
		if keys[r.Key()] {
			bad(rpath, "the same rule is listed twice")
			ok = false
			continue
		}
		keys[r.Key()] = true
		parsed[j] = r
		if dr.ID != "" {
			i := slices.IndexFunc(cur, func(x model.Rule) bool { return x.ID == dr.ID })
			if i < 0 || used[dr.ID] {
				bad(rpath+".id", "%q: %v (leave the id out to add a rule)", dr.ID, ErrRuleNotFound)
				ok = false
				continue
			}
			used[dr.ID] = true
			list = append(list, wanted{r, dr.ID})
		} else {
			list = append(list, wanted{r, ""})
		}
	}
	if !ok {
		return false
	}
	// Rules without an ID take the current rule with the same effect, if one is left.
	for i := range list {
		if list[i].id != "" {
			continue
		}
		for _, x := range cur {
			if !used[x.ID] && x.Key() == list[i].r.Key() {
				list[i].id = x.ID
				used[x.ID] = true
				break
			}
		}
	}
	rules := make([]model.Rule, 0, len(list))
	for _, w := range list {
		if w.id == "" {
			r := w.r
			if now != "" {
				r.ID, r.Created = model.NewRuleID(), now
			}
			gp.AddedRules = append(gp.AddedRules, r)
			rules = append(rules, r)
			continue
		}
		old := cur[slices.IndexFunc(cur, func(x model.Rule) bool { return x.ID == w.id })]
		r := w.r
		r.ID, r.Created = old.ID, old.Created
		if r != old {
			gp.ChangedRules = append(gp.ChangedRules, RuleChange{Before: old, After: r})
		}
		rules = append(rules, r)
	}
	for _, x := range cur {
		if !used[x.ID] {
			gp.RemovedRules = append(gp.RemovedRules, x)
		}
	}
	next.Rules = rules
	return true
}
