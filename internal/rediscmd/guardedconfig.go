package rediscmd

import "strings"

// GuardedConfig reports whether a CONFIG SET parameter (lower case) belongs to the backend's wiring
// under moat — where it listens, who may log in to it, where it writes files — and so may not be set by
// a client through moat: a client allowed CONFIG could otherwise open the backend to addresses the
// whitelist refuses (bind, port, tls-port, protected-mode), lock moat's own logins out (requirepass,
// masterauth, masteruser) or have it write files where it should not (dir, dbfilename). Every tls-*
// parameter is guarded. Operators change these on the backend itself. requirepass is also moat's own
// instance parameter: the gateway answers a CONFIG SET of it alone (or with acllog-max-len) itself, and
// refuses one mixed with the backend's parameters, so the backend's never changes.
func GuardedConfig(lower string) bool {
	switch lower {
	case "bind", "bind-source-addr", "port", "protected-mode",
		"requirepass", "masterauth", "masteruser",
		"dir", "dbfilename", "unixsocket", "unixsocketperm", "aclfile":
		return true
	}
	return strings.HasPrefix(lower, "tls-")
}
