package backend

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
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

// WriteIdentities implements Backend: every ACL SETUSER of set, then ACL DELUSER of del, on the
// connection kept for identity writes (identConn) — dialled at the first write and kept while it works,
// so that a change to one user among thousands costs its round trip and not a dial and handshake. A
// write that fails on the kept connection (the backend restarted, or closed it while idle) is made once
// more on a new one: ACL SETUSER with reset and ACL DELUSER may be sent twice.
func (u *upstream) WriteIdentities(ctx context.Context, set []*Identity, del []string) error {
	if len(set) == 0 && len(del) == 0 {
		return nil
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
	u.ident.mu.Lock()
	defer u.ident.mu.Unlock()
	replies, err := u.ident.exchange(ctx, u, b, n)
	if err != nil {
		return err
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

// identConn is the backend connection WriteIdentities keeps between writes (nil until the first, and
// after a failure or Close). mu is held for a whole write.
type identConn struct {
	mu sync.Mutex
	c  net.Conn
}

// exchange sends b (n commands) on the kept connection, or on a new one, and reads their n one-line
// replies; a failure on a kept connection is tried once more on a new one. The connection is kept
// after a complete exchange, and closed after any failure. Errors wrap ErrUnavailable, or are Dial's.
// mu held.
func (k *identConn) exchange(ctx context.Context, u *upstream, b []byte, n int) ([]string, error) {
	for {
		kept := k.c != nil
		if !kept {
			c, err := u.Dial(ctx)
			if err != nil {
				return nil, err
			}
			k.c = c
		}
		replies, err := exchangeLines(ctx, k.c, b, n)
		if err == nil {
			return replies, nil // kept: Close, which takes mu, closes it
		}
		k.close()
		if !kept {
			return nil, fmt.Errorf("backend %s: %w: %w", u.name, ErrUnavailable, err)
		}
	}
}

// close closes the kept connection, if any. mu held.
func (k *identConn) close() {
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// exchangeLines writes b on c and reads n one-line replies ('+', '-' or ':'), within ctx's deadline
// (DialTimeout without one); c's deadline is cleared after.
func exchangeLines(ctx context.Context, c net.Conn, b []byte, n int) ([]string, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(DialTimeout)
	}
	_ = c.SetDeadline(dl)
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	replies, err := readLineReplies(c, n, "+-:")
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return replies, nil
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
