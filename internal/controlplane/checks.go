package controlplane

import "github.com/moat-dev/moat/internal/controlplane/model"

// AddCheck registers fn to check every instance about to be stored, after model validation: what the
// model cannot judge because it needs the outside world (TLS certificate files that must load). A
// check's error refuses the change. fn runs while changes are serialised: it must not call back into
// the Plane's change methods.
func (p *Plane) AddCheck(fn func(model.Instance) error) {
	p.mu.Lock()
	p.checks = append(p.checks, fn)
	p.mu.Unlock()
}

// runChecks runs the registered checks; called with mu held.
func (p *Plane) runChecks(in model.Instance) error {
	for _, c := range p.checks {
		if err := c(in); err != nil {
			return err
		}
	}
	return nil
}
