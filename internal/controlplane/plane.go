// Package controlplane applies changes to moat's access model: it validates them, makes them durable in
// the store, and only then tells the data plane, through a compiled snapshot. It never touches a live
// connection.
//
// It must not import the gateway, the backend, the server or the console (the server wires the compiled
// snapshots into the data plane); it imports the model, the store and the leaves (acl, allowlist, snapshot).
package controlplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// ErrInstanceNotFound is returned for an unknown instance ID.
var ErrInstanceNotFound = errors.New("instance not found")

const instancePrefix = "instances/"

// Plane is safe for concurrent use; changes are serialised.
type Plane struct {
	store store.Store
	log   *slog.Logger

	mu       sync.Mutex // serialises changes and guards watchers and dataPlane
	watchers []func(model.Instance, bool)
	// dataPlane is told of every change after the watchers and starts the pending instances (Serve,
	// create.go); nil: nothing serves what this Plane stores.
	dataPlane DataPlane
	// checks see every instance about to be stored (AddCheck, checks.go); guarded by mu.
	checks []func(model.Instance) error

	// Now is the clock of audit entries; nil means time.Now.
	Now func() time.Time
	// Audit is how much of the audit trail is kept; set it before the Plane is used.
	Audit AuditPolicy
	// Gateway names this moat in the audit records it writes (AuditEntry.Gateway), so that a fleet's
	// shared log says which gateway took each change; "" names none. Set it before the Plane is used.
	Gateway string

	tableOnce sync.Once
	table     *acl.Table // see Commands
	// tables are the instances' own command tables (SetCommandTable); guarded by tablesMu, which is
	// taken inside mu or alone.
	tablesMu sync.Mutex
	tables   map[string]*acl.Table

	usersMu sync.Mutex               // guards users
	users   map[string]compiledUsers // by instance ID: its users as last compiled (compiledUsers)

	allowSets allowCache // the allow sets compiled last (allowcache.go)

	keys keyCache // the access keys last read, for outages of a shared store (keycache.go)
}

// New returns a Plane over st.
func New(st store.Store, log *slog.Logger) *Plane {
	return &Plane{store: st, log: log}
}

func (p *Plane) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

// Watch registers fn to be called, in order and after the change is durable, with every instance that
// changed (deleted=true when it was removed). fn runs while changes are serialised: it must not call
// back into the Plane's change methods.
func (p *Plane) Watch(fn func(inst model.Instance, deleted bool)) {
	p.mu.Lock()
	p.watchers = append(p.watchers, fn)
	p.mu.Unlock()
}

// Instances returns every instance, sorted by ID.
func (p *Plane) Instances() ([]model.Instance, error) {
	var out []model.Instance
	err := p.store.View(func(tx store.Tx) error {
		kvs, err := tx.List(instancePrefix)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			var in model.Instance
			if err := json.Unmarshal(kv.Value, &in); err != nil {
				return fmt.Errorf("stored %s: %w", kv.Key, err)
			}
			out = append(out, in)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// Instance returns one instance.
func (p *Plane) Instance(id string) (model.Instance, error) {
	var in model.Instance
	err := p.store.View(func(tx store.Tx) error {
		var err error
		in, err = get(tx, id)
		return err
	})
	return in, err
}

func get(tx store.Tx, id string) (model.Instance, error) {
	var in model.Instance
	b, err := tx.Get(instancePrefix + id)
	if errors.Is(err, store.ErrNotFound) {
		return in, fmt.Errorf("instance %q: %w", id, ErrInstanceNotFound)
	}
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("stored instance %q: %w", id, err)
	}
	return in, nil
}

func put(tx store.Tx, in model.Instance) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return tx.Put(instancePrefix+in.ID, b)
}

// change runs fn on the stored instance id (absent: the zero Instance with exists=false) and stores its
// result together with an audit entry, durably, in one transaction; then it notifies watchers. fn returns
// the new instance, or deleted=true to remove it. fn may run more than once (store.Store.Update).
func (p *Plane) change(a Actor, action, id string, fn func(in model.Instance, exists bool) (out model.Instance, deleted bool, err error)) (model.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out model.Instance
	var deleted bool
	err := p.store.Update(func(tx store.Tx) (err error) {
		out, deleted, err = p.changeIn(tx, a, action, id, fn)
		return err
	})
	if errors.Is(err, errUnchanged) {
		return out, nil // nothing to store, audit or publish
	}
	if err != nil {
		return model.Instance{}, err
	}
	p.notify(out, deleted)
	return out, nil
}

// notify tells the watchers, then the data plane, of a durable change. The data plane is not told of a
// pending instance: only its creation starts it (create.go). Called with mu held.
func (p *Plane) notify(in model.Instance, deleted bool) {
	if deleted {
		p.forgetUsers(in.ID)
	}
	for _, w := range p.watchers {
		w(in, deleted)
	}
	if p.dataPlane != nil && (deleted || !in.Pending) {
		p.dataPlane(in, deleted) // reports only on a pending instance
	}
}

// changeIn is change's work inside the transaction tx: it returns errUnchanged when fn changed nothing.
func (p *Plane) changeIn(tx store.Tx, a Actor, action, id string, fn func(model.Instance, bool) (model.Instance, bool, error)) (out model.Instance, deleted bool, err error) {
	in, err := get(tx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrInstanceNotFound) {
		return out, false, err
	}
	out, deleted, err = fn(in, exists)
	if err != nil {
		return out, deleted, err
	}
	if exists && !deleted && sameInstance(in, out) {
		return out, deleted, errUnchanged
	}
	e := AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: action, Instance: id, Result: ResultOK}
	if exists {
		e.Before, _ = json.Marshal(in)
	}
	if deleted {
		if err := tx.Delete(instancePrefix + id); err != nil {
			return out, deleted, err
		}
	} else {
		if err := p.checkAndPut(tx, &out); err != nil {
			return out, deleted, err
		}
		e.After, _ = json.Marshal(out)
	}
	return out, deleted, p.appendAudit(tx, e)
}

// checkAndPut stores in inside tx once it passes every check: its requirepass moved into its default
// user, the model's validation, its users compiled, the checks added (AddCheck).
func (p *Plane) checkAndPut(tx store.Tx, in *model.Instance) error {
	if err := p.moveRequirePass(in); err != nil {
		return err
	}
	if err := in.Validate(); err != nil {
		return err
	}
	if _, err := p.compiledUsers(*in); err != nil {
		return err
	}
	if err := p.runChecks(*in); err != nil {
		return err
	}
	return put(tx, *in)
}

var errUnchanged = errors.New("unchanged")

func sameInstance(a, b model.Instance) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// update is change for an instance that must exist.
func (p *Plane) update(a Actor, action, id string, fn func(model.Instance) (model.Instance, error)) (model.Instance, error) {
	return p.change(a, action, id, func(in model.Instance, exists bool) (model.Instance, bool, error) {
		if !exists {
			return in, false, fmt.Errorf("instance %q: %w", id, ErrInstanceNotFound)
		}
		out, err := fn(in)
		return out, false, err
	})
}

// PutInstance creates or replaces an instance after validating it.
func (p *Plane) PutInstance(a Actor, in model.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	_, err := p.change(a, "PutInstance", in.ID, func(model.Instance, bool) (model.Instance, bool, error) { return in, false, nil })
	return err
}

// DeleteInstance removes an instance from the model (its data directory is left alone).
func (p *Plane) DeleteInstance(a Actor, id string) error {
	_, err := p.change(a, "DeleteInstance", id, func(in model.Instance, exists bool) (model.Instance, bool, error) {
		if !exists {
			return in, false, fmt.Errorf("instance %q: %w", id, ErrInstanceNotFound)
		}
		return in, true, nil
	})
	return err
}

// ModifySecurityIps applies one whitelist change (W2–W7) and returns W7's warnings.
func (p *Plane) ModifySecurityIps(a Actor, id string, c allowlist.Change) ([]string, error) {
	var warnings []string
	_, err := p.update(a, "ModifySecurityIps", id, func(in model.Instance) (model.Instance, error) {
		groups, w, err := allowlist.Apply(in.Groups, c)
		if err != nil {
			return in, err
		}
		warnings = w
		in.Groups = groups
		return in, nil
	})
	return warnings, err
}

// DeleteGroup removes a whitelist group (not "default", not a system group unless system).
func (p *Plane) DeleteGroup(a Actor, id, group string, system bool) error {
	_, err := p.update(a, "DeleteSecurityIpGroup", id, func(in model.Instance) (model.Instance, error) {
		groups, err := allowlist.DeleteGroup(in.Groups, group, system)
		if err != nil {
			return in, err
		}
		in.Groups = groups
		return in, nil
	})
	return err
}

// SetParams sets instance parameters together (all or none); a default value removes the override.
func (p *Plane) SetParams(a Actor, id string, values map[string]string) error {
	var errs []error
	for name, v := range values {
		if err := model.CheckParam(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	_, err := p.update(a, "ModifyInstanceConfig", id, func(in model.Instance) (model.Instance, error) {
		params := make(map[string]string, len(in.Params)+len(values))
		for k, v := range in.Params {
			params[k] = v
		}
		for name, value := range values {
			if name == "requirepass" { // even when empty: change moves it into the default user
				params[name] = value
				continue
			}
			if d, _ := model.LookupParam(name); d.Default == value {
				delete(params, name)
			} else {
				params[name] = value
			}
		}
		in.Params = params
		return in, nil
	})
	return err
}

// SetParam sets one instance parameter.
func (p *Plane) SetParam(a Actor, id, name, value string) error {
	return p.SetParams(a, id, map[string]string{name: value})
}
