package snapshot

import (
	"fmt"
	"net/netip"

	"github.com/moat-dev/moat/internal/allowlist"
)

// Explanation is Admit's verdict with what a person needs to read it (API6): every whitelist entry and
// security-group host that admits the judged address, and one sentence saying why.
type Explanation struct {
	Verdict
	Matches []allowlist.Match // in input order; empty (not nil) when none
	Why     string
}

// Explain returns Admit's verdict on c, explained. The decision is Admit's, unchanged: Explain only
// describes it. It is meant for the control plane (CheckAccess, moat check, the console): it scans the
// allow set linearly and allocates.
func (s *Snapshot) Explain(c Conn) Explanation {
	v := s.Admit(c)
	e := Explanation{Verdict: v, Matches: []allowlist.Match{}}
	if v.By == RuleAwaitPROXY {
		e.Why = fmt.Sprintf("%s is a trusted load balancer (proxy-protocol): its connections must start with a PROXY header, and the client address it carries is judged", v.Judged)
		if !v.Admitted {
			e.Why = "refused: " + e.Why + "; a connection without one is a protocol error"
		}
		return e
	}
	w := s.Allow.Explain(v.Judged)
	if w.Matches != nil {
		e.Matches = w.Matches
	}
	switch v.By {
	case RuleNone:
		e.Why = w.Reason
		if v.PasswordFree {
			e.Why += "; a client of the instance's VPC, but #no_loose_check-whitelist-always applies the whitelist to those too"
		}
	case RuleVPC:
		e.Why = "allowed without the whitelist: a client of the instance's VPC with password-free VPC access (vpc-password-free, vpc-cidr); it needs no password"
	default:
		e.Why = w.Reason
		if v.PasswordFree {
			e.Why += "; a client of the instance's VPC: it needs no password (password-free VPC access)"
		}
	}
	switch v.Reason {
	case ReasonProtectedMode:
		e.Why = "refused by protected mode: the default user has no password and " + notLocal(c, v.Judged) +
			" (set requirepass, or protected-mode no); password-free VPC access does not lift it; the whitelist stage alone would admit it: " + e.Why
		if v.AfterHandshake {
			e.Why += "; on a TLS listener the refusal follows the handshake"
		}
	case ReasonProtocolError:
		e.Why = fmt.Sprintf("refused: %s is not a trusted load balancer (proxy-protocol), so its PROXY header is a protocol error; the peer itself was judged: %s", v.Judged, e.Why)
	}
	return e
}

// notLocal says why a client is not local for protected mode.
func notLocal(c Conn, judged netip.Addr) string {
	if judged.IsLoopback() {
		return fmt.Sprintf("the load balancer %s is not loopback", c.Peer.Unmap())
	}
	return "the address is not loopback"
}
