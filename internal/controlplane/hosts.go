package controlplane

// Hosts (SPEC SG1): registering, changing and removing the machines security groups admit.

import (
	"fmt"
	"slices"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

func getHost(tx store.Tx, id string) (model.Host, error) {
	return getJSON[model.Host](tx, hostPrefix+id, ErrHostNotFound, id)
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
