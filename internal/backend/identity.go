package backend

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Per-user identities (issue 18). A user of moat restricted by key, channel or command rules runs its
// scripts and functions on the backend as a backend ACL user of its own, "moat-u-<instance>-<hex of the
// user name>", holding that user's rules (minus the instance's denied commands), so that the backend
// judges every key and command a script touches as Redis would judge the user. Its password is derived
// like the script guard's (HMAC-SHA256 of the backend login's credentials, over the instance and the user
// name) and set as a SHA-256 hash; the client's password is never used. The gateway writes and deletes
// identities (WriteIdentities) and switches a session's own backend connection to one (Identity.Enter).

// IdentityPrefix starts the name of every per-user identity.
const IdentityPrefix = "moat-u-"

// Identity is the backend ACL user standing in for one user of moat. It is immutable.
type Identity struct {
	// User is the backend ACL user's name.
	User string
	// SetUser writes the user with its rules and password (ACL SETUSER …); Enter is AUTH as it. Both are
	// whole RESP commands; Enter holds the derived password in clear.
	SetUser, Enter []byte
}

// IdentityName is the name of the identity of user on instance.
func IdentityName(instance, user string) string {
	return IdentityPrefix + instance + "-" + hex.EncodeToString([]byte(user))
}

// Identity implements Backend.
func (u *upstream) Identity(instance, user string, rules []string) *Identity {
	name := IdentityName(instance, user)
	mac := hmac.New(sha256.New, []byte("moat user identity\x00"+u.loginUser+"\x00"+u.loginPass))
	mac.Write([]byte(instance + "\x00" + user))
	pass := hex.EncodeToString(mac.Sum(nil))
	sum := sha256.Sum256([]byte(pass))
	args := append([]string{"ACL", "SETUSER", name, "reset", "on", "#" + hex.EncodeToString(sum[:])}, rules...)
	return &Identity{User: name, SetUser: appendCommand(nil, args...), Enter: appendCommand(nil, "AUTH", name, pass)}
}

// LoginAuth implements Backend.
func (u *upstream) LoginAuth() []byte {
	lu := u.loginUser
	if lu == "" {
		lu = "default"
	}
	return appendCommand(nil, "AUTH", lu, u.loginPass)
}

// WriteIdentities implements Backend: one connection, every ACL SETUSER of set, then ACL DELUSER of del.
func (u *upstream) WriteIdentities(ctx context.Context, set []*Identity, del []string) error {
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	c, err := u.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(DialTimeout))
	}
	var b []byte
	n := len(set)
	for _, id := range set {
		b = append(b, id.SetUser...)
	}
	if len(del) > 0 {
		b = appendCommand(b, append([]string{"ACL", "DELUSER"}, del...)...)
		n++
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("backend %s: %w: %w", u.name, ErrUnavailable, err)
	}
	replies, err := readLineReplies(c, n, "+-:")
	if err != nil {
		return fmt.Errorf("backend %s: %w: %w", u.name, ErrUnavailable, err)
	}
	for i, r := range replies {
		if r[0] == '-' {
			user := strings.Join(del, " ") // the last reply is DELUSER's
			if i < len(set) {
				user = set[i].User
			}
			return identityError(user, r[1:])
		}
	}
	return nil
}

// identityError classifies the backend's error reply to ACL SETUSER or DELUSER of user: ErrNoACL
// (the backend has no ACL command), ErrACLPermission (moat's login may not change users) or another
// failure, named with the reply.
func identityError(user, reply string) error {
	switch {
	case strings.HasPrefix(reply, "ERR unknown command"):
		return ErrNoACL
	case strings.HasPrefix(reply, "NOPERM"):
		return fmt.Errorf("%w: %s", ErrACLPermission, reply)
	}
	return fmt.Errorf("ACL SETUSER %s: %s", user, reply)
}

// Identity implements Backend: the embedded engine has no ACL users.
func (e *embedded) Identity(string, string, []string) *Identity { return nil }

// LoginAuth implements Backend.
func (e *embedded) LoginAuth() []byte { return nil }

// WriteIdentities implements Backend.
func (e *embedded) WriteIdentities(context.Context, []*Identity, []string) error { return ErrNoACL }
