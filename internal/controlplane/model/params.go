package model

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/redact"
)

// ErrParam wraps every parameter error.
var ErrParam = errors.New("invalid parameter")

// Param describes one instance parameter.
type Param struct {
	Name    string
	Default string
	Help    string
	// Checking describes the accepted values, as the cloud API's CheckingCode does: "[yes|no]", "[0-100]".
	Checking string
	// Secret marks a value that no error, answer or log may repeat (ShownValue).
	Secret bool
	check  func(string) error
}

// ShownValue is a parameter's value as an error or an answer may quote it: a Secret one masked
// (redact.KindPassword).
func ShownValue(name, value string) string {
	if params[name].Secret {
		return redact.Secret(redact.KindPassword, value)
	}
	return value
}

// Params are the instance parameters moat knows, by name. Names follow redis.conf where Redis has the
// setting.
var params = map[string]Param{
	"drop-on-revoke": {Name: "drop-on-revoke", Default: "no", Checking: "[yes|no]", check: checkYesNo,
		Help: "yes: when the whitelist changes, close established connections whose address is no longer allowed (within a second); no: they continue (W9)."},
	"shared-lanes": {Name: "shared-lanes", Default: "2", Checking: rangeText(0, 64), check: checkRange(0, 64),
		Help: "Backend connections shared by the clients' stateless commands, per protocol (RESP2, RESP3): commands from many clients are written together and each reply is routed back to its client. A client moves to a backend connection of its own, for good, before a command that needs one (MULTI/WATCH, SELECT, blocking commands, pub/sub, MONITOR, CLIENT SETNAME/REPLY/TRACKING…). 0: every client gets its own backend connection from the start. Applies to new connections."},
	"timeout": {Name: "timeout", Default: "0", Checking: rangeText(0, 365*24*3600), check: checkRange(0, 365*24*3600),
		Help: "Close a client connection after this many seconds idle (0: never). Connections waiting on a reply, subscribed or monitoring are not idle."},
	"proto-max-bulk-len": {Name: "proto-max-bulk-len", Default: "536870912", Checking: rangeText(1024*1024, 512*1024*1024), check: checkRange(1024*1024, 512*1024*1024),
		Help: "Largest bulk argument a client may send, in bytes (1 MiB to 512 MiB)."},
	"proto-max-multibulk-len": {Name: "proto-max-multibulk-len", Default: "1048576", Checking: rangeText(1024, 1<<30), check: checkRange(1024, 1<<30),
		Help: "Most arguments in one command."},
	"proto-max-inline-len": {Name: "proto-max-inline-len", Default: "65536", Checking: rangeText(1024, 1024*1024), check: checkRange(1024, 1024*1024),
		Help: "Longest inline (telnet-style) command line and longest protocol header line, in bytes."},
	// Authentication and ACL (A1–A3). requirepass is not a stored parameter: setting it edits the default
	// user and is kept in Instance.RequirePass.
	"requirepass": {Name: "requirepass", Default: "", Checking: "a password, or empty", Secret: true, check: checkPassword,
		Help: "The default user's password, as redis.conf's requirepass: setting it runs ACL SETUSER default resetpass >password (empty: resetpass nopass). Clients then AUTH before any command. Write-only through the API (always described as empty); a client allowed CONFIG GET reads it with CONFIG GET requirepass, as in Redis."},
	"acl-pubsub-default": {Name: "acl-pubsub-default", Default: "resetchannels", Checking: "[resetchannels|allchannels]", check: checkOneOf("resetchannels", "allchannels"),
		Help: "Channels a new ACL user or selector starts with: resetchannels (none, Redis 7.0's default) or allchannels (&*). Existing users keep theirs."},
	"acllog-max-len": {Name: "acllog-max-len", Default: "128", Checking: rangeText(0, 100000), check: checkRange(0, 100000),
		Help: "Most entries ACL LOG keeps (denied commands, keys, channels and failed AUTHs, grouped as Redis does)."},
	"auth-lockout-threshold": {Name: "auth-lockout-threshold", Default: "10", Checking: rangeText(0, 100000), check: checkRange(0, 100000),
		Help: "Failed AUTH or HELLO AUTH attempts as one user name from one client address, within auth-lockout-window, after which logins as that user from that address are locked for auth-lockout-duration (A5): answered as a wrong password whatever the password. Other users of the address are not affected. 0 turns the lockout off."},
	"auth-lockout-address-threshold": {Name: "auth-lockout-address-threshold", Default: "100", Checking: rangeText(0, 1000000), check: checkRange(0, 1000000),
		Help: "Failed AUTH or HELLO AUTH attempts from one client address, whatever the user names, within auth-lockout-window, after which every login from that address is locked for auth-lockout-duration (catches spraying many names). Failures of a user already locked out do not count. 0 counts per user only."},
	"auth-lockout-window": {Name: "auth-lockout-window", Default: "60", Checking: rangeText(1, 86400), check: checkRange(1, 86400),
		Help: "Seconds over which failed logins are counted, per (address, user) and per address."},
	"auth-lockout-duration": {Name: "auth-lockout-duration", Default: "300", Checking: rangeText(1, 86400), check: checkRange(1, 86400),
		Help: "Seconds a lockout lasts: AUTH and HELLO AUTH of the locked user (or of every user, for an address) from that address get the wrong-password reply. Connections are not refused."},
	// Password-free VPC access (W11).
	"vpc-cidr": {Name: "vpc-cidr", Default: "", Checking: "CIDR blocks, comma-separated", check: checkTrusted,
		Help: "The instance's VPC: the address blocks its hosts' private addresses are in, for password-free VPC access."},
	"vpc-password-free": {Name: "vpc-password-free", Default: "no", Checking: "[yes|no]", check: checkYesNo,
		Help: "yes: clients from vpc-cidr need no password (they are the default user) and skip the whitelist, unless #no_loose_check-whitelist-always is yes (W11)."},
	"#no_loose_check-whitelist-always": {Name: "#no_loose_check-whitelist-always", Default: "no", Checking: "[yes|no]", check: checkYesNo,
		Help: "yes: the whitelist applies to password-free VPC clients too (W11)."},
	// Network security (netparams.go).
	"protected-mode": {Name: "protected-mode", Default: "yes", Checking: "[yes|no]", check: checkYesNo,
		Help: "yes: while the default user has no password, clients from other than a loopback address (127.0.0.0/8, ::1) get Redis's -DENIED reply and are disconnected (N2)."},
	"rename-command": {Name: "rename-command", Default: "", Checking: `NAME NEWNAME | NAME "", comma-separated`, check: checkRenames,
		Help: `Rename commands for new connections, as redis.conf's rename-command lines, in order and comma-separated: CONFIG CFG,FLUSHALL "". The old name then gets the unknown-command error; "" removes a command. The backend and ACL rules keep the original names (N4).`},
	"unguarded-scripts": {Name: "unguarded-scripts", Default: "no", Checking: "[yes|no]", check: checkYesNo,
		Help: "Scripts and functions run inside the backend, where rename-command cannot reach: moat runs them as a backend ACL user without the removed and renamed commands. Where the backend has no ACL users (the embedded engine, Redis before 6) or moat's backend login may not manage them, EVAL, FCALL and FUNCTION are refused while rename-command removes or renames anything; yes accepts the risk and runs them unguarded."},
	"enable-debug-command": {Name: "enable-debug-command", Default: "no", Checking: "[no|yes|local]", check: checkOneOf("no", "yes", "local"),
		Help: "As redis.conf's: no refuses DEBUG with Redis's text, yes forwards it to the backend (which applies its own setting), local only from loopback clients."},
	"enable-module-command": {Name: "enable-module-command", Default: "no", Checking: "[no|yes|local]", check: checkOneOf("no", "yes", "local"),
		Help: "As redis.conf's: no refuses MODULE with Redis's text, yes forwards it to the backend (which applies its own setting), local only from loopback clients."},
	"maxclients": {Name: "maxclients", Default: "10000", Checking: rangeText(1, 1000000), check: checkRange(1, 1000000),
		Help: "Most client connections the instance serves at once; more get -ERR max number of clients reached. Clients allowed CONFIG SET may set it too (CONFIG SET maxclients); lowering it closes no connection."},
	"maxclients-per-ip": {Name: "maxclients-per-ip", Default: "0", Checking: rangeText(0, 1000000), check: checkRange(0, 1000000),
		Help: "Most client connections from one source address (0: no limit); more get -ERR max number of clients reached."},
	"proxy-protocol": {Name: "proxy-protocol", Default: "", Checking: "IPs or CIDR blocks, comma-separated", check: checkTrusted,
		Help: "Load balancers trusted to send a PROXY protocol v1/v2 header: a connection from one must start with one, and the client address it carries is the one judged and logged. A header from anyone else is a protocol error (N5)."},
	"tls-cert-file": {Name: "tls-cert-file", Default: "", Checking: "file path", check: checkPath,
		Help: "PEM certificate chain of the TLS listeners; reloaded without restart when the file changes."},
	"tls-key-file": {Name: "tls-key-file", Default: "", Checking: "file path", check: checkPath,
		Help: "PEM private key (unencrypted) of tls-cert-file."},
	"tls-ca-cert-file": {Name: "tls-ca-cert-file", Default: "", Checking: "file path", check: checkPath,
		Help: "PEM CA certificates that client certificates must chain to."},
	"tls-ca-cert-dir": {Name: "tls-ca-cert-dir", Default: "", Checking: "directory path", check: checkPath,
		Help: "Directory whose PEM files are CA certificates that client certificates may chain to."},
	"tls-auth-clients": {Name: "tls-auth-clients", Default: "yes", Checking: "[no|optional|yes]", check: checkAuthClients,
		Help: "yes: a client certificate is required; optional: checked if sent; no: not asked for."},
	"tls-protocols": {Name: "tls-protocols", Default: "TLSv1.2 TLSv1.3", Checking: "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", check: checkProtocols,
		Help: "TLS versions served, space-separated; they must be consecutive (crypto/tls has a minimum and a maximum)."},
	"tls-ciphers": {Name: "tls-ciphers", Default: "", Checking: "OpenSSL or IANA suite names", check: checkCiphers,
		Help: "TLS 1.2 and older cipher suites, by name (ECDHE-RSA-AES128-GCM-SHA256:…); empty: Go's defaults. OpenSSL keywords (HIGH, !aNULL) and suites crypto/tls lacks or counts insecure are refused."},
	"tls-session-caching": {Name: "tls-session-caching", Default: "yes", Checking: "[yes|no]", check: checkYesNo,
		Help: "no: turn off TLS session resumption."},
}

// ParamNames returns the known parameter names, sorted.
func ParamNames() []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupParam returns the description of a parameter.
func LookupParam(name string) (Param, bool) {
	p, ok := params[name]
	return p, ok
}

// CheckParam validates a value for a parameter.
func CheckParam(name, value string) error {
	p, ok := params[name]
	if why, no := unsupportedParams[name]; !ok && no {
		return fmt.Errorf("parameter %q: not supported: %s: %w", name, why, ErrParam)
	}
	if !ok {
		return fmt.Errorf("parameter %q: unknown (known: %v): %w", name, ParamNames(), ErrParam)
	}
	if err := p.check(value); err != nil {
		return fmt.Errorf("parameter %q: value %q: %v: %w", name, ShownValue(name, value), err, ErrParam)
	}
	return nil
}

// Param returns the instance's value of a parameter, or its default.
func (in Instance) Param(name string) string {
	if v, ok := in.Params[name]; ok {
		return v
	}
	return params[name].Default
}

// ParamInt returns an integer parameter (validated values always parse).
func (in Instance) ParamInt(name string) int64 {
	n, _ := strconv.ParseInt(in.Param(name), 10, 64)
	return n
}

// ParamBool returns a yes/no parameter.
func (in Instance) ParamBool(name string) bool { return in.Param(name) == "yes" }

// IdleTimeout returns the "timeout" parameter as a duration.
func (in Instance) IdleTimeout() time.Duration {
	return time.Duration(in.ParamInt("timeout")) * time.Second
}

func rangeText(lo, hi int64) string { return fmt.Sprintf("[%d-%d]", lo, hi) }

// checkPassword accepts any password but one that could not be typed on a command line: a NUL byte is
// allowed by Redis too, so only the length is bounded.
func checkPassword(v string) error {
	if len(v) > 4096 {
		return errors.New("must be at most 4096 bytes")
	}
	return nil
}

func checkOneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, ok := range values {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("must be one of %v", values)
	}
}

func checkYesNo(v string) error {
	if v != "yes" && v != "no" {
		return errors.New("must be yes or no")
	}
	return nil
}

func checkRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		return nil
	}
}
