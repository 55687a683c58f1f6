package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/snapshot"
)

// Hosts and security groups (SPEC SG1–SG5). Every change below runs in one store transaction together
// with its audit entry; once it is durable, every instance whose allow set it may change (the instances
// the touched groups are bound to) is passed to the watchers, which compile and publish its snapshot,
// before the method returns.

const (
	hostPrefix = "hosts/"
	sgPrefix   = "securitygroups/"
)

// Errors of hosts, groups and bindings.
var (
	ErrHostNotFound          = errors.New("host not found")
	ErrHostExists            = errors.New("host already exists")
	ErrSecurityGroupNotFound = errors.New("security group not found")
	ErrSecurityGroupExists   = errors.New("security group already exists")
	ErrAlreadyMember         = errors.New("the host is already in the security group")
	ErrNotMember             = errors.New("the host is not in the security group")
	ErrGroupHasMembers       = errors.New("there are still hosts in the security group: remove them first")
	ErrGroupBound            = errors.New("the security group is bound to instances: unbind it first (ModifySecurityGroupConfiguration)")
	ErrBindUnknownGroup      = errors.New("specified ecs security group id is not valid")
	ErrRuleNotFound          = errors.New("security group rule not found")
)

// record is what a security-group change did, for the audit log and the watchers.
type record struct {
	instance, resource string
	before, after      any // stored JSON values; nil when absent
	affected           []model.Instance
	unchanged          bool // nothing to store, audit or publish
}

// sgChange runs fn in one transaction, appends the audit entry, commits durably and then notifies the
// watchers of every affected instance.
func (p *Plane) sgChange(a Actor, action string, fn func(tx store.Tx) (record, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var rec record
	err := p.store.Update(func(tx store.Tx) error {
		var err error
		if rec, err = fn(tx); err != nil || rec.unchanged {
			return err
		}
		e := AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: action, Instance: rec.instance,
			Resource: rec.resource, Result: ResultOK}
		if rec.before != nil {
			e.Before, _ = json.Marshal(rec.before)
		}
		if rec.after != nil {
			e.After, _ = json.Marshal(rec.after)
		}
		return p.appendAudit(tx, e)
	})
	if err != nil || rec.unchanged {
		return err
	}
	for _, in := range rec.affected {
		for _, w := range p.watchers {
			w(in, false)
		}
	}
	return nil
}

func getJSON[T any](tx store.Tx, key string, notFound error, id string) (T, error) {
	var v T
	b, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return v, fmt.Errorf("%q: %w", id, notFound)
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("stored %s: %w", key, err)
	}
	return v, nil
}

func listJSON[T any](tx store.Tx, prefix string) ([]T, error) {
	kvs, err := tx.List(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("stored %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

func getHost(tx store.Tx, id string) (model.Host, error) {
	return getJSON[model.Host](tx, hostPrefix+id, ErrHostNotFound, id)
}

func getGroup(tx store.Tx, id string) (model.SecurityGroup, error) {
	return getJSON[model.SecurityGroup](tx, sgPrefix+id, ErrSecurityGroupNotFound, id)
}

func putGroup(tx store.Tx, g model.SecurityGroup) error {
	if err := g.Validate(); err != nil {
		return err
	}
	return putJSON(tx, sgPrefix+g.ID, g)
}

// boundTo returns the instances any of the groups is bound to.
func boundTo(tx store.Tx, groups ...string) ([]model.Instance, error) {
	all, err := listJSON[model.Instance](tx, instancePrefix)
	if err != nil {
		return nil, err
	}
	var out []model.Instance
	for _, in := range all {
		for _, g := range groups {
			if slices.Contains(in.SecurityGroups, g) {
				out = append(out, in)
				break
			}
		}
	}
	return out, nil
}

// groupsOf returns the IDs of the groups host is a member of.
func groupsOf(tx store.Tx, host string) ([]string, error) {
	all, err := listJSON[model.SecurityGroup](tx, sgPrefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range all {
		if slices.Contains(g.Members, host) {
			out = append(out, g.ID)
		}
	}
	return out, nil
}

// Hosts returns every host, sorted by ID.
func (p *Plane) Hosts() ([]model.Host, error) {
	var out []model.Host
	err := p.store.View(func(tx store.Tx) (err error) {
		out, err = listJSON[model.Host](tx, hostPrefix)
		return err
	})
	return out, err
}

// HostGroups returns, for every host, the IDs of the security groups it is in.
func (p *Plane) HostGroups() (map[string][]string, error) {
	out := map[string][]string{}
	err := p.store.View(func(tx store.Tx) error {
		all, err := listJSON[model.SecurityGroup](tx, sgPrefix)
		for _, g := range all {
			for _, m := range g.Members {
				out[m] = append(out[m], g.ID)
			}
		}
		return err
	})
	return out, err
}

// Host returns one host.
func (p *Plane) Host(id string) (model.Host, error) {
	var h model.Host
	err := p.store.View(func(tx store.Tx) (err error) {
		h, err = getHost(tx, id)
		return err
	})
	return h, err
}

// CreateHost registers a host; its ID must be free.
func (p *Plane) CreateHost(a Actor, h model.Host) error {
	if err := h.Validate(); err != nil {
		return err
	}
	return p.sgChange(a, "CreateHost", func(tx store.Tx) (record, error) {
		if _, err := getHost(tx, h.ID); err == nil {
			return record{}, fmt.Errorf("%q: %w", h.ID, ErrHostExists)
		}
		return record{resource: h.ID, after: h}, putJSON(tx, hostPrefix+h.ID, h)
	})
}

// ModifyHost changes a host with fn (name, addresses, VPC; not its ID). When its addresses change, every
// instance a group of the host is bound to gets a new snapshot.
func (p *Plane) ModifyHost(a Actor, id string, fn func(*model.Host)) (model.Host, error) {
	var out model.Host
	err := p.sgChange(a, "ModifyHost", func(tx store.Tx) (record, error) {
		h, err := getHost(tx, id)
		if err != nil {
			return record{}, err
		}
		out = h
		out.PrivateIPs = slices.Clone(h.PrivateIPs)
		fn(&out)
		out.ID = id
		if err := out.Validate(); err != nil {
			return record{}, err
		}
		if sameJSON(h, out) {
			return record{unchanged: true}, nil
		}
		rec := record{resource: id, before: h, after: out}
		if !slices.Equal(h.Addrs(), out.Addrs()) || h.Name != out.Name {
			groups, err := groupsOf(tx, id)
			if err != nil {
				return rec, err
			}
			if rec.affected, err = boundTo(tx, groups...); err != nil {
				return rec, err
			}
		}
		return rec, putJSON(tx, hostPrefix+id, out)
	})
	return out, err
}

// DeleteHost removes a host and its memberships (as releasing an ECS instance does); the instances its
// groups are bound to stop allowing its addresses.
func (p *Plane) DeleteHost(a Actor, id string) error {
	return p.sgChange(a, "DeleteHost", func(tx store.Tx) (record, error) {
		h, err := getHost(tx, id)
		if err != nil {
			return record{}, err
		}
		groups, err := groupsOf(tx, id)
		if err != nil {
			return record{}, err
		}
		for _, gid := range groups {
			g, err := getGroup(tx, gid)
			if err != nil {
				return record{}, err
			}
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
			if err := putGroup(tx, g); err != nil {
				return record{}, err
			}
		}
		rec := record{resource: id, before: map[string]any{"host": h, "security_groups": groups}}
		if rec.affected, err = boundTo(tx, groups...); err != nil {
			return rec, err
		}
		return rec, tx.Delete(hostPrefix + id)
	})
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

// BoundInstances returns, for every security group bound to an instance, the IDs of those instances.
func (p *Plane) BoundInstances() (map[string][]string, error) {
	all, err := p.Instances()
	out := map[string][]string{}
	for _, in := range all {
		for _, g := range in.SecurityGroups {
			out[g] = append(out[g], in.ID)
		}
	}
	return out, err
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

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
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

// BindSecurityGroups replaces the security groups bound to an instance (ModifySecurityGroupConfiguration):
// at most 10, each existing, none twice; refused for instances that cannot bind groups (SG3) unless the
// set is empty. The instance's snapshot changes before this returns.
func (p *Plane) BindSecurityGroups(a Actor, id string, groups []string) error {
	if len(groups) > model.MaxGroupsPerInstance {
		return fmt.Errorf("%d security groups given: %w", len(groups), model.ErrTooManyBound)
	}
	return p.sgChange(a, "ModifySecurityGroupConfiguration", func(tx store.Tx) (record, error) {
		in, err := get(tx, id)
		if err != nil {
			return record{}, err
		}
		if len(groups) > 0 {
			if err := in.CanBindSecurityGroups(); err != nil {
				return record{}, err
			}
		}
		var errs []error
		seen := map[string]bool{}
		for _, g := range groups {
			if seen[g] {
				errs = append(errs, fmt.Errorf("%q given twice: %w", g, ErrBindUnknownGroup))
			} else if err := model.CheckSecurityGroupID(g); err != nil {
				errs = append(errs, fmt.Errorf("%w: %v", ErrBindUnknownGroup, err))
			} else if _, err := getGroup(tx, g); err != nil {
				errs = append(errs, fmt.Errorf("%w: %v", ErrBindUnknownGroup, err))
			}
			seen[g] = true
		}
		if err := errors.Join(errs...); err != nil {
			return record{}, err
		}
		out := in
		out.SecurityGroups = slices.Clone(groups)
		if len(groups) == 0 {
			out.SecurityGroups = nil
		}
		if sameInstance(in, out) {
			return record{unchanged: true}, nil
		}
		if err := out.Validate(); err != nil {
			return record{}, err
		}
		return record{instance: id, before: in, after: out, affected: []model.Instance{out}}, put(tx, out)
	})
}

// Bound returns the security groups bound to an instance with their member hosts, as the allow set
// wants them (W6). A bound group that no longer exists is skipped.
func (p *Plane) Bound(in model.Instance) ([]allowlist.Bound, error) {
	if len(in.SecurityGroups) == 0 {
		return nil, nil
	}
	var out []allowlist.Bound
	err := p.store.View(func(tx store.Tx) error {
		for _, id := range in.SecurityGroups {
			g, err := getGroup(tx, id)
			if errors.Is(err, ErrSecurityGroupNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			b := allowlist.Bound{SecurityGroup: id}
			for _, m := range g.Members {
				h, err := getHost(tx, m)
				if errors.Is(err, ErrHostNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				b.Hosts = append(b.Hosts, allowlist.Host{ID: h.ID, Name: h.Name, Addrs: h.Addrs()})
			}
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

// CompileInstance compiles an instance's snapshot with its bound security groups as stored now.
func (p *Plane) CompileInstance(in model.Instance) (*snapshot.Snapshot, error) {
	bound, err := p.Bound(in)
	if err != nil {
		return nil, err
	}
	users, err := p.Users(in)
	if err != nil {
		return nil, err
	}
	return Compile(in, bound, users), nil
}
