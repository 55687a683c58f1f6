package rediscmd

import (
	"bytes"
	"strings"
)

// GuardedConfig reports whether a CONFIG SET parameter (lower case) belongs to the backend's wiring
// under moat — where it listens, who may log in to it, where it writes files — and so may not be changed
// by a client through moat: a client allowed CONFIG could otherwise open the backend to addresses the
// whitelist refuses (bind, port, tls-port, protected-mode), lock moat's own logins out (requirepass,
// masterauth, masteruser) or have it write files where it should not (dir, dbfilename). Every tls-*
// parameter is guarded. Operators change these on the backend itself; a CONFIG SET to the value the
// backend has is no change (SameConfigValue) and the gateway answers it as Redis would. requirepass is
// also moat's own instance parameter: the gateway answers a CONFIG SET of it itself, so the backend's
// never changes.
func GuardedConfig(lower string) bool {
	switch lower {
	case "bind", "bind-source-addr", "port", "protected-mode",
		"requirepass", "masterauth", "masteruser",
		"dir", "dbfilename", "unixsocket", "unixsocketperm", "aclfile":
		return true
	}
	return strings.HasPrefix(lower, "tls-")
}

// GuardedImmutable reports whether Redis 7.0.15 refuses every CONFIG SET of the guarded parameter lower,
// whatever its value, as an immutable config (IMMUTABLE_CONFIG in config.c).
func GuardedImmutable(lower string) bool {
	switch lower {
	case "aclfile", "unixsocket", "unixsocketperm":
		return true
	}
	return false
}

// GuardedProtected reports whether Redis 7.0.15 refuses a CONFIG SET of the guarded parameter lower as a
// protected config unless its enable-protected-configs allows the client (PROTECTED_CONFIG in config.c).
func GuardedProtected(lower string) bool { return lower == "dir" || lower == "dbfilename" }

// SameConfigValue reports whether CONFIG SET of the guarded parameter lower to value leaves it at
// current, the value CONFIG GET answers for it, as Redis 7.0.15 parses value: yes/no and enumerations
// (protected-mode, tls-auth-clients, the TLS switches) in any case; unixsocketperm as an octal number
// (strtoll's spelling: leading blanks, a sign, leading zeros); anything else byte for byte. For an
// integer (port, tls-port) that is its value: string2ll parses only the spelling CONFIG GET gives. For
// bind it is its list of addresses: Redis splits the value at every single space, in order, and CONFIG
// GET joins the list with single spaces.
func SameConfigValue(lower string, value, current []byte) bool {
	switch lower {
	case "protected-mode", "tls-auth-clients", "tls-cluster", "tls-replication",
		"tls-prefer-server-ciphers", "tls-session-caching":
		return bytes.EqualFold(value, current)
	case "unixsocketperm":
		v, ok := parseOctal(value)
		c, okc := parseOctal(current)
		return ok && okc && v == c
	}
	return bytes.Equal(value, current)
}

// parseOctal parses b as strtoll(b, &end, 8) does when *end must be the end of b: blanks, an optional
// sign, octal digits. An empty b is 0 (strtoll stops at once, at the end); blanks or a sign without
// digits are refused. Values beyond 32 bits are refused (a permission mode is at most 0777).
func parseOctal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	if i == len(b) {
		return 0, false
	}
	var n int64
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '7' || n > 1<<32 {
			return 0, false
		}
		n = n*8 + int64(b[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
