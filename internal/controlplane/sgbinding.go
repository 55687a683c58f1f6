package controlplane

// Binding security groups to instances (SPEC SG3, W6): the bound groups and their member hosts.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

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
