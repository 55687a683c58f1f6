// Package model holds the control plane's types and their validation. It is pure: no I/O, no clocks
// (NewID reads crypto/rand). It checks a backend spec with backend/spec and must not import the data
// plane (backend, gateway, snapshot).
package model

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend/spec"
)

// Origins of an instance: who declared it.
const (
	OriginDefault = "default" // the instance moat serves when started without a config file
	OriginConfig  = "config"  // declared in the config file
	OriginAPI     = "api"     // created through the API
)

// Instance is one database endpoint and everything its access model needs. Values are copied freely;
// treat the slices and map inside as immutable once stored.
type Instance struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Listen        []string          `json:"listen"`
	Backend       string            `json:"backend"`
	EngineVersion string            `json:"engine_version"`
	Params        map[string]string `json:"params,omitempty"` // only values that differ from the defaults
	Groups        []allowlist.Group `json:"groups"`
	Origin        string            `json:"origin"`
	// Type (standard, cluster, rw_split) and Architecture (classic, cloud_native); empty means the
	// default (standard, classic). They decide whether security groups may be bound (SG3).
	Type         string `json:"type,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	// SecurityGroups are the IDs of the bound security groups (SG2, at most 10), in the order given.
	SecurityGroups []string `json:"security_groups,omitempty"`
	// TLSListen are the addresses served with TLS (N3), beside or instead of Listen.
	TLSListen []string `json:"tls_listen,omitempty"`
	// ACL holds the instance's ACL users (A3) as ACL LIST shows them, one "user <name> <rules>" line
	// each, passwords as SHA-256 hashes; empty means only Redis's fresh default user, "on nopass ~* &*
	// +@all". The control plane checks the lines against its command table before storing them.
	ACL []string `json:"acl,omitempty"`
	// RequirePass is the requirepass parameter as last set, in clear, from any source (the config file,
	// ModifyInstanceConfig, `moat instance set`, a client's CONFIG SET): what Redis keeps in
	// server.requirepass and CONFIG GET requirepass answers. Setting it also gives the default user that
	// password (controlplane's moveRequirePass); an ACL SETUSER default or ResetAccountPassword changes
	// the user, not this, as in Redis. Empty: never set, or set empty. The audit log masks it (its
	// "requirepass" field); no API answer shows it.
	RequirePass string `json:"requirepass,omitempty"`
	// UserSources restricts ACL users to source addresses (A4), by user name: IP addresses, CIDR blocks
	// and names of this instance's whitelist groups. AUTH as such a user from any other address fails as
	// a wrong password does. A user without an entry may log in from any admitted address.
	UserSources map[string][]string `json:"user_sources,omitempty"`
	// Accounts holds what the R-kvstore account actions (CreateAccount…) keep beside an ACL user, by
	// user name (account.go).
	Accounts map[string]Account `json:"accounts,omitempty"`
	// Pending marks an instance CreateInstance stored and the gateway creating it has not started yet
	// (controlplane.Plane.Create): its listen addresses may still have port 0, and no other gateway
	// starts it. The creating gateway clears it once it serves the instance, storing the addresses it
	// bound, or removes the instance if it cannot start it; a gateway that starts with one stored (it
	// stopped in between) does the same (controlplane.Plane.StartPending).
	Pending bool `json:"pending,omitempty"`
}

// Sentinel errors; messages wrap them with the offending value.
var (
	ErrInstanceID = errors.New("instance ID must be \"r-\" followed by 1 to 62 lowercase letters or digits")
	ErrListen     = errors.New("listen address must be host:port")
	ErrNoListen   = errors.New("an instance needs at least one listen address")
)

// CheckID checks an instance ID: "r-" followed by 1–62 lowercase letters or digits.
func CheckID(id string) error {
	if len(id) < 3 || len(id) > 64 || id[:2] != "r-" {
		return fmt.Errorf("%q: %w", id, ErrInstanceID)
	}
	for i := 2; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') {
			return fmt.Errorf("%q: %w", id, ErrInstanceID)
		}
	}
	return nil
}

// NewID returns a fresh random instance ID: "r-" and 16 lowercase letters and digits.
func NewID() string { return "r-" + Random("abcdefghijklmnopqrstuvwxyz0123456789", 16) }

// Random returns n characters drawn uniformly from alphabet (at most 256 characters) with crypto/rand.
func Random(alphabet string, n int) string {
	limit := 256 - 256%len(alphabet) // bytes at or above limit would bias the draw: skip them
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		rand.Read(buf)
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// CheckListen checks one listen address ("127.0.0.1:6380", "[::1]:6380", ":6380").
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, ErrListen)
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: host must be an IP address: %w", addr, ErrListen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port must be 0–65535: %w", addr, ErrListen)
	}
	return nil
}

// CheckBackend checks a backend spec ("embedded", "" for it, redis://, rediss://, unix://); the error
// wraps spec.ErrSpec, names every bad part and never contains the password. Whether the server it
// names is reachable, or is a cluster moat refuses, is known only when the data plane opens it.
func CheckBackend(s string) error {
	_, err := spec.Parse(s)
	return err
}

// Validate checks the instance, its backend spec included (CheckBackend); it reports every problem at
// once.
func (in Instance) Validate() error {
	var errs []error
	if err := CheckID(in.ID); err != nil {
		errs = append(errs, err)
	}
	if err := CheckBackend(in.Backend); err != nil {
		errs = append(errs, err)
	}
	if len(in.Listen) == 0 && len(in.TLSListen) == 0 {
		errs = append(errs, ErrNoListen)
	}
	for _, l := range in.Listen {
		if err := CheckListen(l); err != nil {
			errs = append(errs, err)
		}
	}
	for name, v := range in.Params {
		if err := CheckParam(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	if err := allowlist.Validate(in.Groups); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, in.validateKind()...)
	errs = append(errs, in.validateNet()...)
	errs = append(errs, in.validateSources()...)
	return errors.Join(errs...)
}
