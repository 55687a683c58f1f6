package controlplane

// Security groups (SPEC SG1, SG2): create, read, modify, delete, and host membership.

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

func getGroup(tx store.Tx, id string) (model.SecurityGroup, error) {
	return getJSON[model.SecurityGroup](tx, sgPrefix+id, ErrSecurityGroupNotFound, id)
}

func putGroup(tx store.Tx, g model.SecurityGroup) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return putJSON(tx, sgPrefix+g.ID, g)
}

// SecurityGroups returns every security group, sorted by ID.
func (p *Plane) SecurityGroups() ([]model.SecurityGroup, error) {
	var out []model.SecurityGroup
	err := p.store.View(func(tx store.Tx) (err error) {
		out, err = listJSON[model.SecurityGroup](tx, sgPrefix)
		return err
	})
	return out, err
}

// SecurityGroup returns one security group.
func (p *Plane) SecurityGroup(id string) (model.SecurityGroup, error) {
	var g model.SecurityGroup
	err := p.store.View(func(tx store.Tx) (err error) {
		g, err = getGroup(tx, id)
		return err
	})
	return g, err
}

// CreateSecurityGroup stores a new group (without members; ID generated when empty) and returns it.
func (p *Plane) CreateSecurityGroup(a Actor, g model.SecurityGroup) (model.SecurityGroup, error) {
	if g.ID == "" {
		g.ID = model.NewSecurityGroupID()
	}
	g.Created = p.now().Format(timeFormat)
	if g.Members == nil {
		g.Members = []string{}
	}
	if g.Rules == nil {
		g.Rules = []model.Rule{}
	}
	if err := g.Validate(); err != nil {
		return g, err
	}
	err := p.sgChange(a, "CreateSecurityGroup", func(tx store.Tx) (record, error) {
		if _, err := getGroup(tx, g.ID); err == nil {
			return record{}, fmt.Errorf("%q: %w", g.ID, ErrSecurityGroupExists)
		}
		return record{resource: g.ID, after: g}, putGroup(tx, g)
	})
	return g, err
}

const timeFormat = "2006-01-02T15:04:05Z"

// ModifySecurityGroupAttribute changes a group's name and description (nil: unchanged).
func (p *Plane) ModifySecurityGroupAttribute(a Actor, id string, name, description *string) error {
	return p.modifyGroup(a, "ModifySecurityGroupAttribute", id, func(tx store.Tx, g *model.SecurityGroup) (bool, error) {
		if name != nil {
			g.Name = *name
		}
		if description != nil {
			g.Description = *description
		}
		return false, nil
	})
}

// modifyGroup changes one group with fn, which reports whether the change affects instance access
// (membership); the group is validated before it is stored.
func (p *Plane) modifyGroup(a Actor, action, id string, fn func(tx store.Tx, g *model.SecurityGroup) (access bool, err error)) error {
	return p.sgChange(a, action, func(tx store.Tx) (record, error) {
		g, err := getGroup(tx, id)
		if err != nil {
			return record{}, err
		}
		before, _ := json.Marshal(g)
		var out model.SecurityGroup
		json.Unmarshal(before, &out) // a deep copy for fn to change
		access, err := fn(tx, &out)
		if err != nil {
			return record{}, err
		}
		if sameJSON(g, out) {
			return record{unchanged: true}, nil
		}
		rec := record{resource: id, before: g, after: out}
		if access {
			if rec.affected, err = boundTo(tx, id); err != nil {
				return rec, err
			}
		}
		return rec, putGroup(tx, out)
	})
}

// DeleteSecurityGroup removes a group. A group that still has members is refused (as ECS does), and so
// is a group bound to an instance: deleting it would silently change who may connect.
func (p *Plane) DeleteSecurityGroup(a Actor, id string) error {
	return p.sgChange(a, "DeleteSecurityGroup", func(tx store.Tx) (record, error) {
		g, err := getGroup(tx, id)
		if err != nil {
			return record{}, err
		}
		bound, err := boundTo(tx, id)
		if err != nil {
			return record{}, err
		}
		if len(bound) > 0 {
			ids := make([]string, len(bound))
			for i, in := range bound {
				ids[i] = in.ID
			}
			return record{}, fmt.Errorf("security group %q is bound to %v: %w", id, ids, ErrGroupBound)
		}
		if len(g.Members) > 0 {
			return record{}, fmt.Errorf("security group %q has %d host(s) %v: %w", id, len(g.Members), g.Members, ErrGroupHasMembers)
		}
		return record{resource: id, before: g}, tx.Delete(sgPrefix + id)
	})
}

// JoinSecurityGroup adds a host to a group; every instance the group is bound to allows its addresses
// from the moment this returns.
func (p *Plane) JoinSecurityGroup(a Actor, sg, host string) error {
	return p.modifyGroup(a, "JoinSecurityGroup", sg, func(tx store.Tx, g *model.SecurityGroup) (bool, error) {
		if _, err := getHost(tx, host); err != nil {
			return false, err
		}
		if slices.Contains(g.Members, host) {
			return false, fmt.Errorf("host %q, security group %q: %w", host, sg, ErrAlreadyMember)
		}
		in, err := groupsOf(tx, host)
		if err != nil {
			return false, err
		}
		if len(in) >= model.MaxGroupsPerHost {
			return false, fmt.Errorf("host %q is in %v: %w", host, in, model.ErrHostGroupQuota)
		}
		g.Members = append(g.Members, host)
		sort.Strings(g.Members)
		return true, nil
	})
}

// LeaveSecurityGroup removes a host from a group; its next connection to an instance the group is bound
// to is refused unless something else allows it.
func (p *Plane) LeaveSecurityGroup(a Actor, sg, host string) error {
	return p.modifyGroup(a, "LeaveSecurityGroup", sg, func(tx store.Tx, g *model.SecurityGroup) (bool, error) {
		if _, err := getHost(tx, host); err != nil {
			return false, err
		}
		i := slices.Index(g.Members, host)
		if i < 0 {
			return false, fmt.Errorf("host %q, security group %q: %w", host, sg, ErrNotMember)
		}
		g.Members = slices.Delete(g.Members, i, i+1)
		return true, nil
	})
}
