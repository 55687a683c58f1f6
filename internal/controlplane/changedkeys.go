package controlplane

import (
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// ChangedKey says what a store key written by a change means for the data plane: the instance it holds
// (instance != ""), or whether it holds a host or a security group (groups: the allow sets of the
// instances bound to groups may change). Other keys (access keys, audit records, nonces, the console
// password) are read from the store at each use and need nothing recompiled.
func ChangedKey(key string) (instance string, groups bool) {
	if id, ok := strings.CutPrefix(key, instancePrefix); ok {
		return id, false
	}
	return "", strings.HasPrefix(key, hostPrefix) || strings.HasPrefix(key, sgPrefix)
}

// SameInstance reports whether two instances are stored alike.
func SameInstance(a, b model.Instance) bool { return sameInstance(a, b) }
