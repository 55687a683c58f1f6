package controlplane

// Hosts and security groups: their errors, store keys, and the change transaction every change runs in.

import (
	"encoding/json"
	"errors"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// Hosts and security groups (SPEC SG1–SG5). Every change (hosts.go, sggroups.go, sgrules.go, sgbinding.go,
// sgplan.go) runs in one store transaction together with its audit entry; once it is durable, every
// instance whose allow set it may change (the instances the touched groups are bound to) is passed to the
// watchers, which compile and publish its snapshot, before the method returns.

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
		p.notify(in, false)
	}
	return nil
}
