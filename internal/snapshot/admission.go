package snapshot

import "net/netip"

// Refusal reasons decided by Admit. They are the gateway's refusal reasons (the "reason" label of
// moat_connections_refused_total), which the gateway defines from these.
const (
	// ReasonIllegalAddress: the address is in no whitelist group and no bound security group, and is
	// not a password-free VPC client the whitelist does not apply to (W6, W8, W11).
	ReasonIllegalAddress = "illegal_address"
	// ReasonProtectedMode: protected mode is on, the default user has no password and the client is not
	// local (N2).
	ReasonProtectedMode = "protected_mode"
	// ReasonProtocolError: a PROXY header from a peer that is not a trusted load balancer (N5).
	ReasonProtocolError = "protocol_error"
)

// Conn is a client connection as admission sees it. Admit reads nothing else: the same Conn gets the
// same verdict from the same snapshot, in the gateway and in CheckAccess alike.
type Conn struct {
	// Peer is the TCP peer's address (a trusted load balancer's, for a proxied connection).
	// IPv4-mapped IPv6 is judged as IPv4 (W8).
	Peer netip.Addr
	// TLS: the connection came to a TLS listener.
	TLS bool
	// Accepting: judged on accept, before a byte is read. A trusted load balancer is then admitted to
	// send its PROXY header; judged later without a header (Proxy false), its connection is refused.
	Accepting bool
	// Proxy: the connection starts with a PROXY protocol header, which carried Client (N5). A LOCAL
	// header (a balancer's own health check) carries the balancer itself: Client = Peer.
	Proxy  bool
	Client netip.Addr
}

// Rule says which rule of the snapshot let an address past the whitelist stage.
type Rule uint8

const (
	RuleNone       Rule = iota // refused at the whitelist stage
	RuleWhitelist              // a whitelist entry or a bound security group's host (W6)
	RuleVPC                    // password-free VPC access without the whitelist (W11)
	RuleAwaitPROXY             // a trusted load balancer: judged again on the address its header carries
)

// Verdict is the admission decision on one connection. It holds no pointers and is built without
// allocating: the gateway computes one per accepted connection.
type Verdict struct {
	// Admitted: the client may go on to send commands (subject to the gateway's live limits).
	Admitted bool
	// Reason is the refusal reason (ReasonIllegalAddress, …); "" when Admitted.
	Reason string
	// AfterHandshake: the refusal is sent once the TLS handshake is done, as Redis sends -DENIED on a
	// TLS port; other refusals are sent on accept, before any handshake (W8).
	AfterHandshake bool
	// By is the rule that let the address past the whitelist (also for a protected-mode refusal).
	By Rule
	// Judged is the address judged: the PROXY-carried client, or the peer.
	Judged netip.Addr
	// PasswordFree: a client of the instance's VPC with password-free VPC access on (W11); it starts
	// logged in as the default user, which needs no password then.
	PasswordFree bool
}

// Admit is the admission verdict on a connection (W6, W8, W11, N2, N5), and the only place it is made:
// the gateway's accept path, its PROXY path and its TLS path act on it, and CheckAccess reports it.
// Checks run in this order:
//
//  1. A peer that is a trusted load balancer without a header (Proxy false) is RuleAwaitPROXY: on
//     accept it is admitted to send its PROXY header, and the address it carries is judged next, with
//     Proxy set; otherwise (a client that sends no header) ReasonProtocolError, sent before any
//     handshake.
//  2. The address judged — the carried client behind a trusted balancer, else the peer — must be in the
//     allow set (W6), or be a password-free VPC client while #no_loose_check-whitelist-always is off
//     (W11). Else: ReasonIllegalAddress, sent on accept.
//  3. Protected mode (N2), as Redis decides it: protected-mode yes and a default user without a password
//     refuse a client that is not local — whether it is whitelisted or in the VPC: password-free VPC
//     access does not give the default user a password. Local is a loopback address (127.0.0.0/8, ::1);
//     behind a load balancer, both the balancer and the carried client must be loopback. On a TLS
//     listener the refusal follows the handshake.
//  4. A PROXY header from a peer that is not a trusted balancer is a protocol error, seen once the peer
//     is admitted and sends it: the peer is what was judged. On a TLS listener it breaks the handshake,
//     so it comes before protected mode's refusal there, and no reply is sent.
//
// Live limits (the brute-force lockout, maxclients, maxclients-per-ip) are the gateway's state, not the
// snapshot's: the gateway applies them between 2 and 3. Admit is safe for concurrent use and allocates
// nothing.
func (s *Snapshot) Admit(c Conn) Verdict {
	peer := c.Peer.Unmap()
	trusted := len(s.ProxyTrusted) > 0 && s.TrustsProxy(peer)
	if trusted && !c.Proxy {
		v := Verdict{Admitted: c.Accepting, By: RuleAwaitPROXY, Judged: peer}
		if !c.Accepting {
			v.Reason = ReasonProtocolError
		}
		return v
	}
	addr, local := peer, isLocal(peer)
	if trusted {
		addr = c.Client.Unmap()
		local = local && isLocal(addr)
	}
	v := Verdict{Judged: addr, PasswordFree: s.PasswordFree(addr)}
	if v.By = s.pass(addr, v.PasswordFree); v.By == RuleNone {
		v.Reason = ReasonIllegalAddress
		return v
	}
	switch {
	case c.Proxy && !trusted && c.TLS: // the header breaks the handshake, before a deferred refusal
		v.Reason, v.AfterHandshake = ReasonProtocolError, true
	case s.DeniesNonLocal() && !local:
		v.Reason, v.AfterHandshake = ReasonProtectedMode, c.TLS
	case c.Proxy && !trusted:
		v.Reason = ReasonProtocolError
	default:
		v.Admitted = true
	}
	return v
}

// isLocal is protected mode's "loopback" (N2): 127.0.0.0/8 and ::1, as Redis 7.2+ and Valkey define it
// (7.0 took only 127.0.0.1). a is unmapped, so ::ffff:127.0.0.1 counts as 127.0.0.1 (W8).
func isLocal(a netip.Addr) bool { return a.IsLoopback() }

// Admits reports whether a client at a passes the whitelist stage of Admit (W6, W8, W11). The
// drop-on-revoke sweep (W9) re-judges established connections with it.
func (s *Snapshot) Admits(a netip.Addr) bool {
	a = a.Unmap()
	return s.pass(a, s.PasswordFree(a)) != RuleNone
}

// pass is the whitelist stage: the allow set has a (a nil Allow has none), or a is a password-free VPC
// client (vpc) and the whitelist does not apply to those.
func (s *Snapshot) pass(a netip.Addr, vpc bool) Rule {
	switch {
	case s.Allow.Allows(a):
		return RuleWhitelist
	case vpc && !s.WhitelistAlways:
		return RuleVPC
	}
	return RuleNone
}

// PasswordFree reports a client that needs no password: inside the VPC of an instance with
// password-free VPC access on (W11).
func (s *Snapshot) PasswordFree(a netip.Addr) bool { return s.VPCFree.Allows(a) }

// DeniesNonLocal reports Redis's protected-mode rule: protected-mode is on and the default user has no
// password, so only loopback clients may connect.
func (s *Snapshot) DeniesNonLocal() bool { return s.ProtectedMode && s.DefaultUserNoPass }

// TrustsProxy reports whether a connection from addr must start with a PROXY protocol header.
func (s *Snapshot) TrustsProxy(addr netip.Addr) bool {
	for _, p := range s.ProxyTrusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// SourceAllows reports whether user may log in from a (A4): it has no source restriction, or its
// sources admit a. It does not judge the password, nor whether the user exists.
func (s *Snapshot) SourceAllows(user string, a netip.Addr) bool {
	set := s.UserSources[user]
	return set == nil || set.Allows(a)
}
