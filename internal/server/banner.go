package server

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/moat-dev/moat/internal/backend"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/redact"
)

// banner tells the operator, at start, where the instance listens and how to let a client in: every
// address is refused until it is whitelisted (W1).
func (s *Server) banner(in model.Instance, gw *gateway.Instance, be backend.Backend) {
	var addrs []string
	for _, a := range gw.Addrs() {
		addrs = append(addrs, a.String())
	}
	v := gw.Snapshot().Allow.Explain(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	s.log.Info("instance serving", "instance", in.ID, "listen", strings.Join(addrs, ","), "backend", redact.Secret(redact.KindURL, in.Backend),
		"engine", engineText(backend.EngineOf(be)),
		"allowed_prefixes", gw.Snapshot().Allow.Entries())
	if gw.Snapshot().Allow.Entries() > 0 {
		return
	}
	how := fmt.Sprintf(`run (with moat on your PATH, or "go run ./cmd/moat" in its place):
      moat whitelist modify --profile %s --instance %s --group local --ips 127.0.0.0/8
    (that file holds the administrator access key; keep it private)`, s.adminKeyPath, in.ID)
	s.log.Warn("every address is refused: the instance has no whitelist entry yet", "instance", in.ID, "why", v.Reason)
	fmt.Fprintf(s.opts.Banner, `
  Instance %s listens on %s — and refuses every address until it is whitelisted.
  Clients get "-ERR illegal address" and are disconnected (%s).
  To allow an address, %s

`, in.ID, strings.Join(addrs, ","), v.Reason, how)
}
