package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// declared is one instance as the config file declares it: the model config.Parse built from it (its
// defaults filled in: name, backend, engine version, the initial default group) and what the file
// itself names, which only is applied over what is stored: its parameters (in.Params holds exactly the
// declared ones) and its whitelist groups (groups).
type declared struct {
	in     model.Instance
	groups []string // the names of the groups the file declares, "default" when it says so
}

// declaredFrom pairs the instances config.Parse returned with the file's own declarations (one model
// per declared instance, in the file's order).
func declaredFrom(f *config.File, list []model.Instance) []declared {
	out := make([]declared, len(list))
	for i, in := range list {
		out[i].in = in
		for _, g := range f.Instances[i].Whitelist {
			out[i].groups = append(out[i].groups, cmp.Or(g.Group, allowlist.DefaultGroup))
		}
	}
	return out
}

// reconcileConfig makes the store agree with the config file, all or nothing as far as moat can tell
// beforehand: every declared instance is merged with what is stored and checked (model validation,
// users, TLS files that must load) before any is stored; a problem in any of them stores none.
//
// A declared instance takes the file's listen addresses, backend, name, engine version, type and
// architecture, the parameters the file declares (the others keep their stored values, however set)
// and the whitelist groups it declares (groupsFromFile); what the API keeps beside it (bound security
// groups, ACL users, accounts, source restrictions, requirepass as last set) stays. Each instance's
// merge and store is one transaction on the instance as stored then, so a change made through the API
// meanwhile is merged, never overwritten. Instances that came from the file and are no longer in it are
// removed from the model (their data directories stay). Calls are serialised; it returns the instances
// to serve.
func (s *Server) reconcileConfig(decl []declared) ([]model.Instance, error) {
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	all, err := s.plane.Instances()
	if err != nil {
		return nil, err
	}
	stored := map[string]model.Instance{}
	for _, in := range all {
		stored[in.ID] = in
	}
	rec := s.readDeclared()
	var errs []error
	for _, d := range decl {
		old, ok := stored[d.in.ID]
		in := d.in
		if ok {
			in, _ = fromFile(old, d, rec)
		}
		if err := s.checkDeclared(in); err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", d.in.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	// What the file declared before stays recorded until every instance is stored: a reload cut short
	// by the store leaves the groups of either file removable.
	next := declaredRecord{}
	for _, d := range decl {
		next[d.in.ID] = d.groups
	}
	if err := s.writeDeclared(rec.union(next)); err != nil {
		return nil, err
	}
	var out []model.Instance
	for _, d := range decl {
		in, err := s.storeDeclared(d, rec)
		if err != nil {
			return nil, fmt.Errorf("instance %s: %w", d.in.ID, err)
		}
		out = append(out, in)
	}
	want := map[string]bool{}
	for _, d := range decl {
		want[d.in.ID] = true
	}
	for _, in := range all {
		switch {
		case want[in.ID]:
		case in.Origin == model.OriginConfig:
			s.log.Warn("instance no longer in the config file: removed (its data directory is kept)", "instance", in.ID)
			if err := s.plane.DeleteInstance(configActor, in.ID); err != nil && !errors.Is(err, controlplane.ErrInstanceNotFound) {
				return nil, err
			}
		case in.Origin == model.OriginAPI:
			out = append(out, in)
		}
	}
	if err := s.writeDeclared(next); err != nil {
		s.log.Error("the config file's declared groups could not be recorded: a group it stops declaring may be kept", "err", err)
	}
	return out, nil
}

// checkDeclared checks in as the control plane will before storing it, so that a reload fails before it
// stores anything: the model's validation, the default user taking a declared requirepass, and the
// registered checks moat's server adds (TLS files must load).
func (s *Server) checkDeclared(in model.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if pass, ok := in.Params["requirepass"]; ok {
		us, err := s.plane.Users(in)
		if err != nil {
			return err
		}
		if err := us.SetRequirePass(pass); err != nil {
			return err
		}
	}
	return s.checkTLS(in)
}

// storeDeclared stores d merged with the instance as stored at that moment, in one transaction
// (Plane.ChangeAccounts: the Plane's read-modify-write of a whole instance; audited as PutInstance, as
// the config file's changes always were), or creates it when it is not stored. It returns the instance as
// stored and logs what the merge changed in the whitelist.
func (s *Server) storeDeclared(d declared, rec declaredRecord) (model.Instance, error) {
	for range 2 { // an instance created or deleted through the API meanwhile: the other way, once
		var notes []note
		err := s.plane.ChangeAccounts(configActor, "PutInstance", d.in.ID, func(in *model.Instance, _ *acl.Users) error {
			*in, notes = fromFile(*in, d, rec) // the latest attempt's notes (a store may run this again)
			return nil
		})
		if errors.Is(err, controlplane.ErrInstanceNotFound) {
			_, created, err := s.plane.EnsureInstance(configActor, func(in model.Instance) bool { return in.ID == d.in.ID }, d.in)
			if err != nil {
				return model.Instance{}, err
			}
			if !created {
				continue
			}
		} else if err != nil {
			return model.Instance{}, err
		}
		for _, n := range notes {
			s.log.Log(context.Background(), n.level, n.msg, append([]any{"instance", d.in.ID}, n.args...)...)
		}
		return s.plane.Instance(d.in.ID) // as stored: a declared requirepass is in its default user now
	}
	return model.Instance{}, errors.New("created and deleted through the API while the config file was applied: try again")
}

// fromFile returns stored with d applied: the file's own settings (listen addresses, backend, name,
// engine version, type, architecture, origin), the parameters it declares, and its whitelist groups
// (groupsFromFile, with rec: which groups the file declared before). Everything else is stored's.
func fromFile(stored model.Instance, d declared, rec declaredRecord) (model.Instance, []note) {
	out := stored
	f := d.in
	out.Name, out.Listen, out.TLSListen, out.Backend, out.EngineVersion = f.Name, f.Listen, f.TLSListen, f.Backend, f.EngineVersion
	out.Origin, out.Type, out.Architecture, out.Pending = f.Origin, f.Type, f.Architecture, false
	out.Params = paramsFromFile(stored.Params, f.Params)
	var groups []allowlist.Group
	for _, g := range f.Groups {
		if slices.Contains(d.groups, g.Name) {
			groups = append(groups, g)
		}
	}
	was, known := rec[f.ID]
	var notes []note
	out.Groups, notes = groupsFromFile(stored.Groups, groups, was, known, f.ID)
	return out, notes
}

// paramsFromFile returns the stored parameters with the declared ones set: a declared default value
// removes the stored one, as ModifyInstanceConfig does (requirepass stays, to be moved into the default
// user); a parameter the file does not declare keeps its stored value.
func paramsFromFile(stored, declared map[string]string) map[string]string {
	out := maps.Clone(stored)
	for name, v := range declared {
		if out == nil {
			out = map[string]string{}
		}
		if p, _ := model.LookupParam(name); name != "requirepass" && p.Default == v {
			delete(out, name)
		} else {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// note is a log line kept until the change it describes is stored.
type note struct {
	level slog.Level
	msg   string
	args  []any
}
