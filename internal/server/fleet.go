package server

// A fleet: several gateways sharing one state store (etcd). Each gateway follows the store's changes
// (store.Watcher) and applies those any gateway made — through its API, CLI, console or an ACL command —
// the way it applies its own: the affected instances are recompiled and their snapshots published, an
// instance created elsewhere starts here once its creator started it (not while it is pending) and one
// deleted elsewhere stops. A gateway's own changes are published before its call returns (onChange) and
// come back through the watch, where they are seen to be served already and skipped.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// fleetRetry is how often a follower that could not apply a change (the store was unreachable) tries
// again to reload everything.
const fleetRetry = time.Second

// follow applies the store's changes until ctx ends. It notes the store's revision, starts the watch
// after it, then reloads every instance (so nothing committed between start-up and the watch is
// missed), then applies each change as it comes. A Reset, or a change that could not be read, reloads
// everything (again every fleetRetry until it succeeds). A watch that ends while ctx lasts is started
// again after the last revision seen.
func (s *Server) follow(ctx context.Context, w store.Watcher) {
	defer close(s.followDone)
	rev := s.storeRevision(ctx)
	dirty := true
	retry := time.NewTicker(fleetRetry)
	defer retry.Stop()
	for ctx.Err() == nil {
		ch := w.Watch(ctx, rev)
		if dirty {
			dirty = s.reloadAll() != nil
		}
	watching:
		for {
			select {
			case c, ok := <-ch:
				if !ok {
					break watching
				}
				rev = max(rev, c.Revision)
				if c.Reset {
					s.log.Warn("state store history lost (compacted, or a long disconnection): reloading every instance", "revision", c.Revision)
					dirty = s.reloadAll() != nil
				} else if !dirty {
					dirty = s.applyKeys(c.Keys) != nil
				}
			case <-retry.C:
				if dirty {
					dirty = s.reloadAll() != nil
				}
			}
		}
		if ctx.Err() == nil {
			s.log.Warn("state store watch ended: watching again", "after_revision", rev)
			select {
			case <-ctx.Done():
			case <-time.After(fleetRetry):
			}
		}
	}
}

// storeRevision returns the store's current revision, retrying every fleetRetry while the store
// cannot be reached, or 0 (watch from now) when the store does not tell revisions or ctx ends.
func (s *Server) storeRevision(ctx context.Context) int64 {
	rv, ok := s.store.Store.(interface {
		ViewRevision(fn func(store.Tx) error) (int64, error)
	})
	if !ok {
		return 0
	}
	for ctx.Err() == nil {
		rev, err := rv.ViewRevision(readProbe)
		s.store.observe(err)
		if err == nil {
			return rev
		}
		select {
		case <-ctx.Done():
		case <-time.After(fleetRetry):
		}
	}
	return 0
}

// applyKeys applies one committed change: the instances it wrote, and, when it touched hosts or
// security groups, every served instance bound to a security group (their allow sets may change).
func (s *Server) applyKeys(keys []string) error {
	s.plane.Changed(keys)
	ids := map[string]bool{}
	groups := false
	for _, k := range keys {
		id, g := controlplane.ChangedKey(k)
		if id != "" {
			ids[id] = true
		}
		groups = groups || g
	}
	if groups {
		for _, sv := range s.servedList() {
			if len(sv.model.SecurityGroups) > 0 && !ids[sv.model.ID] {
				s.pubMu.Lock()
				s.publish(sv, sv.model)
				s.pubMu.Unlock()
			}
		}
	}
	var errs []error
	for id := range ids {
		errs = append(errs, s.refresh(id, groups))
	}
	return errors.Join(errs...)
}

// refresh makes instance id served here as it is stored now: started, republished or stopped. force
// republishes even an instance whose stored model is the one served (its security groups changed).
func (s *Server) refresh(id string, force bool) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	var in model.Instance
	err := s.freshRead(func() (err error) {
		in, err = s.plane.Instance(id)
		return err
	})
	if errors.Is(err, controlplane.ErrInstanceNotFound) {
		if s.Gateway(id) != nil {
			s.log.Info("instance deleted through another gateway: stopped", "instance", id)
			s.stopInstance(id)
		}
		return nil
	}
	if err != nil {
		s.log.Error("a change made through another gateway could not be read: keeping the published snapshot until the store answers", "instance", id, "err", err)
		return err
	}
	s.applyStored(in, force)
	return nil
}

// applyStored serves in as stored: it starts it when it is not served here, else publishes it unless
// it is the model served and force is not set. A pending instance is left alone: the gateway creating
// it starts it, and its settlement — started, or removed — comes as a change of its own
// (controlplane.Plane.Create). Called with pubMu held.
func (s *Server) applyStored(in model.Instance, force bool) {
	if in.Pending {
		return
	}
	s.mu.Lock()
	sv := s.instances[in.ID]
	s.mu.Unlock()
	if sv == nil {
		if err := s.startInstance(in); err != nil {
			s.noteStartError(in.ID, err)
			s.log.Error("instance created through another gateway cannot be served here", "instance", in.ID, "err", err)
			return
		}
		s.noteStartError(in.ID, nil)
		s.log.Info("instance created through another gateway: serving it", "instance", in.ID)
		return
	}
	if !force && controlplane.SameInstance(sv.model, in) {
		return // this gateway's own change, published already (or nothing that matters here)
	}
	s.publish(sv, in)
}

// reloadAll makes the served instances exactly the stored ones, each compiled as stored now.
func (s *Server) reloadAll() error {
	if err := s.freshRead(s.plane.Reloaded); err != nil {
		s.log.Error("the stored access keys could not be read: keeping the published snapshots until the store answers", "err", err)
		return err
	}
	var all []model.Instance
	err := s.freshRead(func() (err error) {
		all, err = s.plane.Instances()
		return err
	})
	if err != nil {
		s.log.Error("the stored instances could not be read: keeping the published snapshots until the store answers", "err", err)
		return err
	}
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	stored := map[string]bool{}
	for _, in := range all {
		stored[in.ID] = true
		s.applyStored(in, true)
	}
	for _, sv := range s.servedList() {
		if !stored[sv.model.ID] {
			s.log.Info("instance deleted through another gateway: stopped", "instance", sv.model.ID)
			s.stopInstance(sv.model.ID)
		}
	}
	s.noteStartErrors(stored)
	return nil
}

// errStaleRead is freshRead's error: what was read may be older than what this gateway enforces.
var errStaleRead = errors.New("read from an etcd member's own copy while the store has no quorum: not applied, to keep enforcing the last state this gateway saw")

// freshRead runs read, which reads the store, and fails with errStaleRead when a read was answered from a
// stale copy meanwhile (healthStore.View): what a gateway enforces never moves back to an older state.
func (s *Server) freshRead(read func() error) error {
	mark := s.store.staleSince()
	if err := read(); err != nil {
		return err
	}
	if s.store.staleSince() != mark {
		return errStaleRead
	}
	return nil
}

// servedList returns the instances served now.
func (s *Server) servedList() []*served {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*served, 0, len(s.instances))
	for _, sv := range s.instances {
		out = append(out, sv)
	}
	return out
}

// noteStartError records (err != nil) or clears why a stored instance is not served here, for /readyz.
func (s *Server) noteStartError(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.startErrs, id)
		return
	}
	s.startErrs[id] = err
}

// noteStartErrors forgets the start errors of instances no longer stored.
func (s *Server) noteStartErrors(stored map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.startErrs {
		if !stored[id] {
			delete(s.startErrs, id)
		}
	}
}

// storeProbeEvery is how often a gateway of a fleet reads the shared store to know it is reachable
// (healthStore.probeLoop): the staleness it reports is exact to about this much.
const storeProbeEvery = 500 * time.Millisecond

// DefaultFleetChanges bounds the audit log's records of changes in a shared store (besides the
// retention): etcd keeps its whole database in a space quota (2 GiB by default), and a record holds the
// instance before and after the change. 50,000 records of a few kilobytes stay well inside it.
const DefaultFleetChanges = 50_000

// startProblems lists the stored instances this gateway could not start (readiness).
func (s *Server) startProblems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, err := range s.startErrs {
		out = append(out, fmt.Sprintf("instance %s: not served on this gateway: %v", id, err))
	}
	sort.Strings(out)
	return out
}

// storeReadiness says, while the state store cannot be reached, since when this gateway's snapshots
// may be stale and why (readyz: degraded, still ready).
func (s *Server) storeReadiness() []string {
	cause, since, down := s.store.status()
	if !down {
		return nil
	}
	return []string{fmt.Sprintf("state store unavailable: enforcing the snapshots as of %s (%s ago), API changes refused: %v",
		since.UTC().Format(time.RFC3339), time.Since(since).Round(time.Second), cause)}
}
