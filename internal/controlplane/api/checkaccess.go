package api

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/snapshot"
)

// checkAccess is the dry run (API6): would a client from SourceIp be admitted, and why. The verdict is
// the gateway's own, snapshot.Admit on the instance's compiled snapshot; optional parameters describe
// the connection as the gateway sees it: Transport (plain, the default, or tls) and ProxyIp, a load
// balancer the client comes through, sending a PROXY header that carries SourceIp (N5).
func checkAccess(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	conn, err := checkedConn(c)
	if err != nil {
		return nil, err
	}
	in, err := c.h.plane.Instance(id)
	if err != nil {
		return nil, err
	}
	snap, err := c.h.plane.CompileInstance(in) // the data plane's own compilation, security groups included
	if err != nil {
		return nil, err
	}
	e := snap.Explain(conn)
	matches := []map[string]string{}
	for _, m := range e.Matches {
		matches = append(matches, map[string]string{"Group": m.Group, "Entry": m.Entry, "SecurityGroup": m.SecurityGroup, "Host": m.Host})
	}
	src := conn.Peer
	if conn.Proxy {
		src = conn.Client
	}
	out := map[string]any{"InstanceId": id, "SourceIp": src.String(), "Allowed": e.Admitted, "Reason": e.Why, "Matches": matches,
		"RefusalReason": e.Verdict.Reason, "Reply": e.Verdict.ReplyText(), "PasswordFree": e.PasswordFree}
	if conn.Proxy {
		out["ProxyIp"] = conn.Peer.String()
	}
	if name := c.params.Get("UserName"); name != "" {
		out["User"] = c.withScripts(c.withLockout(userVerdict(in, snap, name, e.Judged), id, e.Judged), id)
	}
	return out, nil
}

// checkedConn is the connection CheckAccess's parameters describe.
func checkedConn(c *call) (snapshot.Conn, error) {
	var conn snapshot.Conn
	src, err := c.required("SourceIp")
	if err != nil {
		return conn, err
	}
	addr, err := parseAddr(src)
	if err != nil {
		return conn, badSourceIP(src)
	}
	conn.Peer = addr
	if lb := c.params.Get("ProxyIp"); lb != "" {
		peer, err := parseAddr(lb)
		if err != nil {
			return conn, badProxyIP(lb)
		}
		conn.Peer, conn.Proxy, conn.Client = peer, true, addr
	}
	switch t := c.params.Get("Transport"); strings.ToLower(t) {
	case "", "plain":
	case "tls":
		conn.TLS = true
	default:
		return conn, badTransport(t)
	}
	return conn, nil
}

// loginVerdict says whether a client from an address may log in as a user (A4), beside the verdict on
// the connection: the user exists and is on, and its source restriction, if any, admits the address.
// The password is not judged. A client can log in only when both verdicts allow it.
type loginVerdict struct {
	UserName         string
	Exists           bool
	Enabled          bool
	SourceRestricted bool
	Sources          []string      // the restriction as stored: addresses, blocks, group names
	Allowed          bool          // AUTH as the user from the address is not refused for who or where
	Reason           string        // one sentence saying why
	Matches          []sourceMatch // the source entries that admit the address
	// LockedOut: the brute-force lockout refuses this login now, until LockedUntil (RFC 3339).
	LockedOut   bool
	LockedUntil string `json:",omitempty"`
	// Scripts: how the user's scripts and functions run, when it is restricted (gateway identities).
	Scripts string `json:",omitempty"`
}

// sourceMatch is one entry of a user's sources that admits an address: Group is the whitelist group it
// comes from, "" for an address or block listed for the user itself.
type sourceMatch struct{ Group, Entry string }

// userVerdict judges a login as name from addr (the address the connection verdict judged).
func userVerdict(in model.Instance, snap *snapshot.Snapshot, name string, addr netip.Addr) loginVerdict {
	v := loginVerdict{UserName: name, Sources: in.UserSources[name], Matches: []sourceMatch{}}
	if v.Sources == nil {
		v.Sources = []string{}
	}
	u := snap.Users.Get(name)
	switch {
	case u == nil:
		v.Reason = fmt.Sprintf("user %q does not exist: AUTH gets WRONGPASS", name)
		return v
	case !u.Enabled():
		v.Exists = true
		v.Reason = fmt.Sprintf("user %q is off: AUTH gets WRONGPASS", name)
		return v
	}
	v.Exists, v.Enabled = true, true
	v.Allowed = snap.SourceAllows(name, addr)
	set := snap.UserSources[name]
	if set == nil {
		v.Reason = fmt.Sprintf("user %q is on and may log in from any address the instance admits", name)
		return v
	}
	v.SourceRestricted = true
	e := set.Explain(addr)
	for _, m := range e.Matches {
		if strings.HasPrefix(m.Group, "user:") {
			m.Group = "" // the user's own entry (UserSources), not a whitelist group
		}
		v.Matches = append(v.Matches, sourceMatch{m.Group, m.Entry})
	}
	switch {
	case v.Allowed && v.Matches[0].Group == "":
		v.Reason = fmt.Sprintf("user %q may log in from %s: its source entry %s admits it", name, addr, v.Matches[0].Entry)
	case v.Allowed:
		v.Reason = fmt.Sprintf("user %q may log in from %s: whitelist group %q entry %s admits it", name, addr, v.Matches[0].Group, v.Matches[0].Entry)
	case strings.HasPrefix(e.Reason, "no group"):
		v.Reason = fmt.Sprintf("user %q may not log in from %s: none of its sources (%s) admits it; AUTH gets WRONGPASS", name, addr, strings.Join(v.Sources, ","))
	default:
		v.Reason = fmt.Sprintf("user %q may not log in from %s: in its sources (%s) %s; AUTH gets WRONGPASS", name, addr, strings.Join(v.Sources, ","), e.Reason)
	}
	return v
}
