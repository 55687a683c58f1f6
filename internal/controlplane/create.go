package controlplane

// Creating an instance: stored first, started second. The Plane stores the new instance Pending; the
// data plane (Serve: the server's watcher, which starts it as the fleet's follower starts the instances
// other gateways create) starts it from that notification; the Plane then stores the addresses it bound, clears
// Pending and audits the creation, or, when it could not be started, removes it again (a compensating
// delete, audited as undone) and returns why, so that a caller of this gateway never finds a failed
// creation stored once the call returned. The store and the settlement each hold the Plane's lock; the
// start does not (it may wait seconds on a backend), so other changes go on meanwhile: one made to the
// pending instance itself is stored, not published (nothing serves a pending instance), and the
// settlement publishes the instance as stored then. What other gateways of a fleet may see meanwhile
// is said at Create.
//
// The creation is audited once, when it is settled: a successful one as one CreateInstance record with
// the instance as started (as when creating and starting were one step), a failed one as a
// CreateInstance record with result ResultUndone, the instance as it was stored pending (Before) and
// the start's error. The pending record itself admits nobody and is served by no gateway.

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// ErrInstanceExists is returned when creating an instance whose ID is taken.
var ErrInstanceExists = errors.New("instance already exists")

// StartError is Create's and StartPending's error when the data plane could not start the instance (it
// was removed again): Err is the data plane's error, whose text it has.
type StartError struct {
	ID  string
	Err error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Bound is what the data plane bound for an instance it started: its listen and TLS listen addresses
// with port 0 resolved and the hosts as stored.
type Bound struct {
	Listen, TLSListen []string
}

// DataPlane is the data plane as the Plane sees it (Serve). It is told of every durable change of an
// instance, in order, after the watchers and like them while changes are serialised: it must not call
// back into the Plane's change methods. Of a pending instance it is told only by Create and
// StartPending, outside the Plane's lock, to start it: it returns the addresses it bound, or why it
// could not start it, leaving nothing of it running. For any other change it returns a zero Bound and
// nil.
type DataPlane func(in model.Instance, deleted bool) (Bound, error)

// Serve registers the data plane; a later call replaces it. Without one, Create stores instances that
// nothing starts (not Pending): tools that edit a store offline.
func (p *Plane) Serve(fn DataPlane) {
	p.mu.Lock()
	p.dataPlane = fn
	p.mu.Unlock()
}

// CreateInstance is Create without the instance as stored.
func (p *Plane) CreateInstance(a Actor, in model.Instance) error {
	_, err := p.Create(a, in)
	return err
}

// Create stores a new instance, whose ID must be free, and returns it as stored. With a data plane
// (Serve), the instance is stored Pending, the data plane starts it, and the addresses it bound are
// stored with Pending cleared and the creation audited (CreateInstance); if the data plane cannot start
// it, the instance is removed again — audited as CreateInstance with result ResultUndone and the
// reason — and the data plane's error is returned in a *StartError. Without a data plane it is stored
// and audited at once.
//
// Other gateways sharing the store (a fleet) may see the instance Pending for the time of the start:
// listed (DescribeInstances says Creating), served by none (no gateway but this one starts a pending
// instance), and, when the start fails, deleted again.
func (p *Plane) Create(a Actor, in model.Instance) (model.Instance, error) {
	if err := in.Validate(); err != nil {
		return model.Instance{}, err
	}
	start, err := p.storePending(a, &in)
	if err != nil {
		return model.Instance{}, err
	}
	if start == nil {
		return in, nil
	}
	bound, err := start(in, false)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.settle(a, in, bound, err)
}

// storePending stores in, which must be new, Pending, and returns the data plane to start it; without
// a data plane it stores it as it is and audits it (nil DataPlane).
func (p *Plane) storePending(a Actor, in *model.Instance) (DataPlane, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dataPlane == nil {
		out, err := p.createNow(a, *in)
		*in = out
		return nil, err
	}
	in.Pending = true
	err := p.store.Update(func(tx store.Tx) error {
		if _, err := get(tx, in.ID); err == nil {
			return fmt.Errorf("instance %q: %w", in.ID, ErrInstanceExists)
		} else if !errors.Is(err, ErrInstanceNotFound) {
			return err
		}
		return p.checkAndPut(tx, in) // audited when settled
	})
	if err != nil {
		return nil, err
	}
	p.notify(*in, false) // the watchers; the data plane starts it next, outside the lock
	return p.dataPlane, nil
}

// createNow stores and audits in, which must be new, in one step. Called with mu held.
func (p *Plane) createNow(a Actor, in model.Instance) (model.Instance, error) {
	var out model.Instance
	err := p.store.Update(func(tx store.Tx) (err error) {
		out, _, err = p.changeIn(tx, a, "CreateInstance", in.ID, func(_ model.Instance, exists bool) (model.Instance, bool, error) {
			if exists {
				return in, false, fmt.Errorf("instance %q: %w", in.ID, ErrInstanceExists)
			}
			return in, false, nil
		})
		return err
	})
	if err != nil {
		return model.Instance{}, err
	}
	p.notify(out, false)
	return out, nil
}

// StartPending settles instance in when it is stored Pending — its gateway stopped between storing and
// starting it, or before it stored what it bound: the data plane starts it and the Plane stores what it
// bound, or, when it cannot, removes it, both as Create does (audited as CreateInstance, actor a). It
// returns the instance as stored, or the data plane's error once the instance is removed. An instance
// not Pending, or a Plane without a data plane, is returned as it is.
//
// A gateway calls it at start for the pending instances it finds. In a fleet, a gateway starting while
// another is creating the instance may settle it first; the creator's own settlement then finds it
// settled (an error of the creator's call, while the instance stays).
func (p *Plane) StartPending(a Actor, in model.Instance) (model.Instance, error) {
	p.mu.Lock()
	start := p.dataPlane
	p.mu.Unlock()
	if !in.Pending || start == nil {
		return in, nil
	}
	bound, err := start(in, false)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.settle(a, in, bound, err)
}

// errSettled is returned when a pending instance was settled (started or removed) by another gateway
// meanwhile.
var errSettled = errors.New("instance no longer pending: settled by another gateway")

// settle ends the creation of pending, which the data plane started (startErr nil, having bound bound)
// or not: it stores what was bound and clears Pending, or removes the instance. A started instance
// whose settlement cannot be stored is removed too (and stopped). Called with mu held.
func (p *Plane) settle(a Actor, pending model.Instance, bound Bound, startErr error) (model.Instance, error) {
	if startErr != nil {
		startErr = &StartError{ID: pending.ID, Err: startErr}
	} else {
		out, err := p.storeStarted(a, pending.ID, bound)
		if err == nil {
			p.notify(out, false) // the data plane publishes it as stored now
			return out, nil
		}
		if errors.Is(err, errSettled) {
			return model.Instance{}, err // stored and started: the fleet's follower publishes it as stored
		}
		startErr = err
	}
	p.undo(a, pending, startErr)
	return model.Instance{}, startErr
}

// storeStarted stores pending instance id as started, with the addresses bound, and audits its creation
// (CreateInstance, the instance as started). Called with mu held.
func (p *Plane) storeStarted(a Actor, id string, bound Bound) (model.Instance, error) {
	var out model.Instance
	err := p.store.Update(func(tx store.Tx) error {
		cur, err := get(tx, id)
		if errors.Is(err, ErrInstanceNotFound) {
			return fmt.Errorf("instance %q: deleted while it was started: %w", id, ErrInstanceNotFound)
		}
		if err != nil {
			return err
		}
		if !cur.Pending {
			return fmt.Errorf("instance %q: %w", id, errSettled)
		}
		cur.Listen, cur.TLSListen, cur.Pending = bound.Listen, bound.TLSListen, false
		if err := p.checkAndPut(tx, &cur); err != nil {
			return err
		}
		out = cur
		e := AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: "CreateInstance", Instance: id, Result: ResultOK}
		e.After, _ = json.Marshal(out)
		return p.appendAudit(tx, e)
	})
	return out, err
}

// undo removes pending, which could not be started or settled (cause), audited as CreateInstance with
// result ResultUndone and the cause, and tells the watchers and the data plane it is deleted (the data
// plane stops it if it serves it). If the store cannot remove it, it stays stored Pending, served by
// no gateway, until a gateway's next start settles it (StartPending). Called with mu held.
func (p *Plane) undo(a Actor, pending model.Instance, cause error) {
	err := p.store.Update(func(tx store.Tx) error {
		cur, err := get(tx, pending.ID)
		if err != nil {
			return err
		}
		if !cur.Pending {
			return errSettled // started by another gateway meanwhile: not this creation's to undo
		}
		if err := tx.Delete(instancePrefix + pending.ID); err != nil {
			return err
		}
		e := AuditEntry{Time: p.now(), KeyID: a.KeyID, Source: a.Source, Action: "CreateInstance",
			Instance: pending.ID, Result: ResultUndone, Error: clip(cause.Error(), maxErrorText)}
		e.Before, _ = json.Marshal(cur)
		return p.appendAudit(tx, e)
	})
	switch {
	case err == nil:
		p.log.Warn("created instance removed: it could not be started", "instance", pending.ID, "cause", cause)
		p.notify(pending, true)
	case errors.Is(err, ErrInstanceNotFound): // deleted by another gateway meanwhile
		p.notify(pending, true)
	case errors.Is(err, errSettled):
		p.log.Warn("a created instance that could not be started here was started by another gateway", "instance", pending.ID, "cause", cause)
	default:
		p.log.Error("a created instance that could not be started is still stored pending: the next start of a gateway starts or removes it",
			"instance", pending.ID, "cause", cause, "err", err)
		p.dataPlane(pending, true) // stored pending: served by no gateway
	}
}
