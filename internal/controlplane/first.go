package controlplane

// What the first moat to start on an empty store creates: the default instance and the administrator
// key. Several gateways sharing a store (etcd) may start at the same moment; each creation is one
// serializable transaction that looks for an existing one first, so exactly one is ever created.

import (
	"encoding/json"
	"errors"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// EnsureInstance returns the first stored instance (by ID) that match selects, or stores in (validated
// and audited as "PutInstance", like PutInstance) when none does and returns it as stored with
// created=true. The look and the store are one transaction: callers racing on a shared store never both
// create. Watchers are told of a created instance as of any change.
func (p *Plane) EnsureInstance(a Actor, match func(model.Instance) bool, in model.Instance) (_ model.Instance, created bool, err error) {
	if err := in.Validate(); err != nil {
		return in, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out model.Instance
	err = p.store.Update(func(tx store.Tx) error {
		created = false
		all, err := listJSON[model.Instance](tx, instancePrefix)
		if err != nil {
			return err
		}
		for _, s := range all {
			if match(s) {
				out = s
				return nil
			}
		}
		out, _, err = p.changeIn(tx, a, "PutInstance", in.ID, func(model.Instance, bool) (model.Instance, bool, error) { return in, false, nil })
		created = err == nil
		return err
	})
	if err != nil {
		return model.Instance{}, false, err
	}
	if created {
		p.notify(out, false)
	}
	return out, created, nil
}

// CreateFirstKey creates an access key as CreateKey does, but only when the store holds no key yet:
// otherwise it creates nothing and returns created=false. The look and the creation are one
// transaction, so of several gateways starting together on an empty shared store exactly one creates
// the administrator key.
func (p *Plane) CreateFirstKey(a Actor, description string, actions, instances []string) (_ AccessKey, created bool, err error) {
	k, err := p.newKey(a, "CreateAccessKey", description, actions, instances, func(tx store.Tx) error {
		kvs, err := tx.Range(keyPrefix, keyPrefix[:len(keyPrefix)-1]+"0", false, 1)
		if err != nil {
			return err
		}
		if len(kvs) > 0 {
			return errKeysExist
		}
		return nil
	})
	if errors.Is(err, errKeysExist) {
		return AccessKey{}, false, nil
	}
	return k, err == nil, err
}

var errKeysExist = errors.New("access keys exist")

// newKey makes a key with a new ID and secret and stores it, audited as action, in one transaction
// after guard (nil: none) approves.
func (p *Plane) newKey(a Actor, action, description string, actions, instances []string, guard func(store.Tx) error) (AccessKey, error) {
	if err := checkPolicy(actions, instances); err != nil {
		return AccessKey{}, err
	}
	if err := checkKeyDescription(description); err != nil {
		return AccessKey{}, err
	}
	k := AccessKey{
		ID:          "MOAT" + model.Random("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20),
		Secret:      model.Random("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 30),
		Description: description, Actions: actions, Instances: instances, Created: p.now(),
	}
	b, err := json.Marshal(k)
	if err != nil {
		return k, err
	}
	pub := k
	pub.Secret = ""
	after, _ := json.Marshal(pub)
	p.mu.Lock()
	defer p.mu.Unlock()
	err = p.store.Update(func(tx store.Tx) error {
		if guard != nil {
			if err := guard(tx); err != nil {
				return err
			}
		}
		if err := tx.Put(keyPrefix+k.ID, b); err != nil {
			return err
		}
		return p.appendAudit(tx, AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: action, Result: ResultOK, After: after})
	})
	return k, err
}
