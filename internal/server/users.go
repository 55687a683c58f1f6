package server

import (
	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/gateway"
)

// userStore lets the gateway's ACL SETUSER and DELUSER change an instance's users through the control
// plane: durable, audited (as "redis:<user>" from the client's address), and published before it returns.
type userStore struct{ plane *controlplane.Plane }

var _ gateway.UserStore = userStore{}

func (u userStore) ChangeUsers(instance, user, source, action string, fn func(*acl.Users) error) error {
	return u.plane.ChangeUsers(controlplane.Actor{KeyID: "redis:" + user, Source: source}, action, instance, fn)
}
