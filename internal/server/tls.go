package server

import (
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/tlsconf"
)

// DefaultTLSReload is how often an instance's certificate files are checked for changes.
const DefaultTLSReload = 5 * time.Second

// instanceTLS loads the TLS configuration of an instance with TLS listen addresses and starts watching
// its files; nil when the instance has none. The error names the instance, the setting and the file.
func (s *Server) instanceTLS(in model.Instance) (*tlsconf.Server, error) {
	if len(in.TLSListen) == 0 {
		return nil, nil
	}
	srv, err := tlsconf.NewServer(in.TLSOptions(), s.log.With("instance", in.ID))
	if err != nil {
		return nil, fmt.Errorf("instance %s: TLS: %w", in.ID, err)
	}
	every := s.opts.TLSReload
	if every <= 0 {
		every = DefaultTLSReload
	}
	srv.Watch(every)
	return srv, nil
}

// tlsSource returns srv as the gateway's TLSSource; a nil srv is a nil interface.
func tlsSource(srv *tlsconf.Server) gateway.TLSSource {
	if srv == nil {
		return nil
	}
	return srv
}

// checkTLS is the control plane's check of TLS settings that are about to be stored (ModifyInstanceConfig,
// the config file): if they differ from what the instance serves, their files must load, so that a
// change is refused with the reason rather than accepted and then not applied. Settings no listener
// uses (no TLS listen address, no certificate) are only validated, not loaded.
func (s *Server) checkTLS(in model.Instance) error {
	o := in.TLSOptions()
	if len(in.TLSListen) == 0 && o.CertFile == "" {
		return nil
	}
	s.mu.Lock()
	sv := s.instances[in.ID]
	s.mu.Unlock()
	if sv != nil && sv.tls != nil && sv.tls.Options() == o {
		return nil
	}
	if len(in.TLSListen) == 0 {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("TLS settings: %w: %w", err, model.ErrParam)
		}
	}
	if _, err := o.Load(time.Now()); err != nil {
		return fmt.Errorf("TLS settings: %w: %w", err, model.ErrParam)
	}
	return nil
}

// applyTLS follows a change of an instance's TLS settings; a failure keeps the previous configuration
// serving (tlsconf logs why).
func (s *Server) applyTLS(sv *served, in model.Instance) {
	if sv.tls != nil {
		sv.tls.Update(in.TLSOptions())
	}
}

// reloadTLS re-reads every instance's certificate files now (SIGHUP) instead of at the next poll.
func (s *Server) reloadTLS() {
	s.mu.Lock()
	var list []*tlsconf.Server
	for _, sv := range s.instances {
		if sv.tls != nil {
			list = append(list, sv.tls)
		}
	}
	s.mu.Unlock()
	for _, t := range list {
		t.Reload()
	}
}

// TLSAddrs returns the TLS addresses a served instance is bound to (api.Runtime extension).
func (s *Server) TLSAddrs(id string) []string {
	gw := s.Gateway(id)
	if gw == nil {
		return nil
	}
	var out []string
	for _, a := range gw.TLSAddrs() {
		out = append(out, a.String())
	}
	if s.opts.ListenHost != "" { // with the hosts stored: each gateway of a fleet puts its own
		s.mu.Lock()
		out = withHostsOf(out, s.instances[id].model.TLSListen)
		s.mu.Unlock()
	}
	return out
}
