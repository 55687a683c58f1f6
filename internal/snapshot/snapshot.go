// Package snapshot holds everything the data plane needs to serve one instance, compiled and immutable.
//
// The control plane builds a new Snapshot whole, validates it, and publishes it with one atomic store;
// the data plane only ever reads snapshots, so a failed build leaves the previous one serving.
//
// It is compiled data: it must not import the gateway or the backend, and knows no connection; it builds on
// the leaves (acl, allowlist, rediscmd, resp).
package snapshot

import (
	"net/netip"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/rediscmd"
	"github.com/moat-dev/moat/internal/resp"
)

// Snapshot is immutable after it is published: readers on many goroutines share it without locks.
type Snapshot struct {
	// Instance is the instance ID ("r-…").
	Instance string
	// Allow is the compiled allow set (W6). A nil Allow denies every address.
	Allow *allowlist.Set
	// DropOnRevoke closes established connections whose address this snapshot no longer allows (W9).
	DropOnRevoke bool
	// SharedLanes is how many shared backend connections the instance's clients' stateless commands are
	// multiplexed over, per protocol (RESP2, RESP3); 0: every client gets its own (the dedicated lane).
	SharedLanes int
	// Limits bound what a client may send.
	Limits resp.Limits
	// IdleTimeout closes a client connection idle this long (0: never, like redis.conf "timeout 0").
	// Connections waiting for a reply, subscribed or monitoring are not idle.
	IdleTimeout time.Duration

	// Network security (N2, N4, N5, connection limits).

	// ProtectedMode is the protected-mode parameter (N2); see DeniesNonLocal.
	ProtectedMode bool
	// DefaultUserNoPass reports that the default user has nopass (no requirepass): Redis's condition
	// for protected mode.
	DefaultUserNoPass bool

	// Users are the instance's ACL users (A3), shared read-only by every connection: never changed
	// once published. A nil Users means Redis's fresh default user alone ("on nopass ~* &* +@all").
	Users *acl.Users
	// RequirePass is the requirepass parameter as last set (model.Instance.RequirePass), in clear: what
	// CONFIG GET requirepass answers. The default user's password is in Users.
	RequirePass string
	// ACLLogMaxLen is acllog-max-len.
	ACLLogMaxLen int
	// UserSources are the addresses each source-restricted user may log in from (A4), by user name;
	// a user not listed may log in from anywhere admitted.
	UserSources map[string]*allowlist.Set

	// Password-free VPC access (W11): VPCFree holds the instance's VPC blocks while it is on (nil: off);
	// their clients need no password and, unless WhitelistAlways (#no_loose_check-whitelist-always),
	// skip the whitelist.
	VPCFree         *allowlist.Set
	WhitelistAlways bool

	// Brute-force lockout (A5): AuthLockoutThreshold failed logins as one user from one address within
	// AuthLockoutWindow lock that (address, user) pair for AuthLockoutDuration; AuthLockoutAddressThreshold
	// failed logins from one address, whatever the user names, lock every login from it likewise. A
	// locked login is answered as a wrong password. A zero AuthLockoutThreshold turns the lockout off; a
	// zero AuthLockoutAddressThreshold turns off only the per-address count.
	AuthLockoutThreshold        int
	AuthLockoutAddressThreshold int
	AuthLockoutWindow           time.Duration
	AuthLockoutDuration         time.Duration
	// Renames are the rename-command directives (N4), applied to connections admitted under this
	// snapshot. The zero value renames nothing.
	Renames rediscmd.Renames
	// DebugCommand and ModuleCommand are enable-debug-command and enable-module-command: who may have
	// DEBUG and MODULE forwarded to the backend.
	DebugCommand, ModuleCommand Enable
	// UnguardedScripts is the unguarded-scripts parameter: run scripts and functions even where the
	// backend cannot refuse Renames' denied commands inside them (no ACL users). Off: refuse them.
	UnguardedScripts bool
	// MaxClients bounds the instance's client connections; MaxClientsPerIP those from one source
	// address. 0 means no bound.
	MaxClients      int
	MaxClientsPerIP int
	// ProxyTrusted are the load balancers whose connections start with a PROXY protocol header (N5);
	// empty: PROXY protocol is off.
	ProxyTrusted []netip.Prefix
}

// Enable is a redis.conf "enable-…-command" setting: no, yes or local.
type Enable uint8

const (
	EnableNo    Enable = iota // refused for every client
	EnableYes                 // allowed for every client
	EnableLocal               // allowed for loopback clients only
)

// ParseEnable reads "no", "yes" or "local" (anything else is no).
func ParseEnable(v string) Enable {
	switch v {
	case "yes":
		return EnableYes
	case "local":
		return EnableLocal
	}
	return EnableNo
}

// Allows reports whether a client (local: from a loopback address) may run the command.
func (e Enable) Allows(local bool) bool { return e == EnableYes || (e == EnableLocal && local) }
