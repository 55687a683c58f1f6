package server

import (
	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/gateway"
)

// userStore lets the gateway's ACL SETUSER and DELUSER change an instance's users through the control
// plane: durable, audited (as "redis:<user>" from the client's address), and published before it returns.
//
// This is the one loop from the data plane back into the control plane, and it runs the same path as
// every API change: gateway (aclcmd.go) → ChangeUsers here → Plane.ChangeUsers (store, audit, under the
// plane's lock) → the plane's watchers → Server.onChange → CompileInstance → gateway.Instance.Publish.
// So the client's reply to ACL SETUSER is sent only once the new users are stored and in force, and the
// gateway never changes its own snapshot: it waits for the published one like any other change.
type userStore struct{ plane *controlplane.Plane }

var _ gateway.UserStore = userStore{}

func (u userStore) ChangeUsers(instance, user, source, action string, fn func(*acl.Users) error) error {
	return u.plane.ChangeUsers(controlplane.Actor{KeyID: "redis:" + user, Source: source}, action, instance, fn)
}

var _ gateway.ConfigStore = userStore{}

// SetParams is a client's CONFIG SET of moat's parameters (requirepass, acllog-max-len, maxclients):
// the same change as ModifyInstanceConfig, so requirepass edits the default user in the one place every
// source of it does (Plane.SetParams → moveRequirePass), audited as "redis:<user>" like ACL SETUSER,
// and maxclients is the instance's (CompileInstance → Snapshot.MaxClients, enforced on accept).
func (u userStore) SetParams(instance, user, source string, values map[string]string) error {
	return u.plane.SetParams(controlplane.Actor{KeyID: "redis:" + user, Source: source}, instance, values)
}
