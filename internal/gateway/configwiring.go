package gateway

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/rediscmd"
)

// A CONFIG SET of the backend's wiring (rediscmd.GuardedConfig: bind, port, protected-mode, masterauth,
// dir, tls-*, …) never reaches the backend through moat. One that would change a value is refused with
// Redis's protected-config text naming the parameter, as before. One to the value the backend has is no
// change, and is answered as Redis 7.0.15 answers it, outside MULTI:
//
//   - the backend's current values are read with CONFIG GET on a connection of moat's own login
//     (configConn), after every earlier command of the client has run (configBarrier), and compared as
//     Redis parses the new value (rediscmd.SameConfigValue);
//   - the same value is +OK, but where Redis refuses even that: an immutable parameter (aclfile,
//     unixsocket, unixsocketperm) with Redis's immutable-config text; dir and dbfilename with the
//     protected-config text unless the backend's enable-protected-configs allows the client (yes, or
//     local for a client on a loopback address); a parameter named twice with Redis's duplicate text;
//   - a password (masterauth, the TLS keys' passphrases) counts as the same only when empty on both
//     sides: CONFIG GET shows every password empty through moat, and a CONFIG SET that answered +OK to
//     the right non-empty password would tell a client what it is;
//   - beside other parameters — the backend's, moat's own — the pair is a first-pass check of the one
//     CONFIG SET, applied all or none with them (configmix.go): Redis's error for the first failing pair
//     is the reply and nothing changes; the backend is sent the other parameters alone.
//
// Inside MULTI, where moat cannot read the backend's values at EXEC, a CONFIG SET naming the backend's
// wiring is refused as before (guardedConfigSet), dooming the transaction.

// guardedParam is the lower-case name of a CONFIG SET parameter of the backend's wiring that moat does
// not answer itself (requirepass is moat's own), or "". The name aliases buf.
func guardedParam(name []byte, buf *[64]byte) string {
	if moatConfigParam(name) != "" {
		return ""
	}
	if l := lowerInto(name, buf[:]); rediscmd.GuardedConfig(l) {
		return l
	}
	return ""
}

// wiringFailure judges the pairs of guarded parameters of a CONFIG SET (guarded.at: their places in the
// client's command) against the backend's values read on conn: the first pair Redis's first pass would
// refuse, or none. local: the client is on a loopback address, for enable-protected-configs local.
func (c *configConn) wiringFailure(guarded backendPairs, local bool) (configFailure, error) {
	if len(guarded.pairs) == 0 {
		return configFailure{}, nil
	}
	query := make([][]byte, 0, len(guarded.pairs)+2)
	for i := 0; i < len(guarded.pairs); i += 2 {
		query = append(query, bytes.ToLower(guarded.pairs[i]), nil)
	}
	query = append(query, []byte("enable-protected-configs"), nil)
	got, err := c.get(query)
	if err != nil && !errors.Is(err, errNoConfig) { // without CONFIG there is no value: each is refused
		return configFailure{}, err
	}
	current := make(map[string][]byte, len(got)/2)
	for i := 0; i < len(got); i += 2 {
		current[strings.ToLower(string(got[i]))] = got[i+1]
	}
	var seen []string
	for i := 0; i < len(guarded.pairs); i += 2 {
		typed, value := guarded.pairs[i], guarded.pairs[i+1]
		var buf [64]byte
		name := strings.Clone(guardedParam(typed, &buf))
		cur, ok := current[name]
		var reply []byte
		switch {
		case !ok || !rediscmd.SameConfigValue(name, value, cur) || slices.Contains(secretConfig[:], name) && len(value) > 0:
			reply = replyGuardedConfig(typed)
		case rediscmd.GuardedImmutable(name):
			reply = replyImmutableConfig(typed)
		case rediscmd.GuardedProtected(name) && !allowsProtected(string(current["enable-protected-configs"]), local):
			reply = replyGuardedConfig(typed)
		case slices.Contains(seen, name):
			reply = replyDuplicateConfig(typed)
		}
		if reply != nil {
			return configFailure{pass: 1, at: guarded.at[i/2], reply: reply}, nil
		}
		seen = append(seen, name)
	}
	return configFailure{}, nil
}

// allowsProtected is Redis's allowProtectedAction for the backend's enable-protected-configs value v.
func allowsProtected(v string, local bool) bool {
	return strings.EqualFold(v, "yes") || strings.EqualFold(v, "local") && local
}
