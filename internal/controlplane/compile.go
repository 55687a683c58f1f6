package controlplane

// Compiling an instance into the data plane's snapshot (the network part is in compilenet.go).

import (
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/resp"
	"github.com/moat-dev/moat/internal/snapshot"
)

// CompileInstance compiles an instance's snapshot with its bound security groups as stored now.
func (p *Plane) CompileInstance(in model.Instance) (*snapshot.Snapshot, error) {
	bound, err := p.Bound(in)
	if err != nil {
		return nil, err
	}
	users, err := p.compiledUsers(in) // shared with the last snapshot when the users did not change
	if err != nil {
		return nil, err
	}
	return compileWith(in, p.allowSets.get(in, bound), users), nil
}

// Compile builds the data plane's snapshot of an instance. bound lists the instance's bound security
// groups with their member hosts; users are its compiled ACL users (nil: the fresh default user alone),
// which the snapshot takes over: the caller must not change them after.
func Compile(in model.Instance, bound []allowlist.Bound, users *acl.Users) *snapshot.Snapshot {
	return compileWith(in, allowlist.Compile(in.Groups, bound), users)
}

// compileWith is Compile with the allow set compiled (allowlist.Compile of in.Groups and the bound
// groups).
func compileWith(in model.Instance, allow *allowlist.Set, users *acl.Users) *snapshot.Snapshot {
	lim := resp.DefaultLimits()
	lim.MaxBulk = in.ParamInt("proto-max-bulk-len")
	lim.MaxArgs = int(in.ParamInt("proto-max-multibulk-len"))
	lim.MaxInline = int(in.ParamInt("proto-max-inline-len"))
	s := &snapshot.Snapshot{
		Instance:     in.ID,
		Allow:        allow,
		DropOnRevoke: in.ParamBool("drop-on-revoke"),
		SharedLanes:  int(in.ParamInt("shared-lanes")),
		Limits:       lim,
		IdleTimeout:  in.IdleTimeout(),
		Users:        users,
		RequirePass:  in.RequirePass,
		ACLLogMaxLen: int(in.ParamInt("acllog-max-len")),
		UserSources:  UserSources(in),

		WhitelistAlways:             in.ParamBool("#no_loose_check-whitelist-always"),
		AuthLockoutThreshold:        int(in.ParamInt("auth-lockout-threshold")),
		AuthLockoutAddressThreshold: int(in.ParamInt("auth-lockout-address-threshold")),
		AuthLockoutWindow:           time.Duration(in.ParamInt("auth-lockout-window")) * time.Second,
		AuthLockoutDuration:         time.Duration(in.ParamInt("auth-lockout-duration")) * time.Second,
	}
	if in.ParamBool("vpc-password-free") {
		if vpc, _ := model.ParseTrusted(in.Param("vpc-cidr")); len(vpc) > 0 {
			s.VPCFree = allowlist.Compile([]allowlist.Group{{Name: "vpc", Entries: vpc}}, nil)
		}
	}
	s.DefaultUserNoPass = users == nil || users.Get("default").NoPass()
	compileNet(in, s)
	return s
}
