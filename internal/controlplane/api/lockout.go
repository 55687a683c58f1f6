package api

import (
	"fmt"
	"net/netip"
	"time"
)

// LockoutSource is the part of the Runtime that reports a served instance's brute-force lockout (A5).
// A Runtime without it reports no lockout.
type LockoutSource interface {
	// LoginLockout returns until when logins as user from addr are locked out — by the (address, user)
	// pair and by the address for every user — each zero when not locked; ok=false if the instance is
	// not served here.
	LoginLockout(instanceID string, addr netip.Addr, user string) (pairUntil, addressUntil time.Time, ok bool)
}

// withLockout adds the lockout in force, if any, to the verdict on logging in as v.UserName from addr:
// a locked login is refused whatever the password, so the verdict is then a refusal that says until
// when. It reads this process's counts.
func (c *call) withLockout(v loginVerdict, id string, addr netip.Addr) loginVerdict {
	src, ok := c.h.runtime.(LockoutSource)
	if !ok {
		return v
	}
	pair, address, ok := src.LoginLockout(id, addr, v.UserName)
	if !ok || (pair.IsZero() && address.IsZero()) {
		return v
	}
	until := max(pair.Unix(), address.Unix())
	v.LockedOut, v.LockedUntil = true, stamp(time.Unix(until, 0))
	why := fmt.Sprintf("logins as %q from %s are locked out until %s after repeated failed logins as that user (auth-lockout-threshold)", v.UserName, addr, v.LockedUntil)
	if !address.IsZero() {
		why = fmt.Sprintf("every login from %s is locked out until %s after repeated failed logins from the address (auth-lockout-address-threshold)", addr, stamp(address))
	}
	why += "; AUTH gets WRONGPASS whatever the password"
	if v.Allowed {
		v.Allowed = false
		v.Reason = why
	} else {
		v.Reason += "; " + why
	}
	return v
}
