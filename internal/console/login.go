package console

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"

	"github.com/moat-dev/moat/internal/controlplane"
)

// The login page offers both ways in: the console password, or an access key's ID and secret.
type loginPage struct {
	Error, Notice string
	Method        string // which form the error belongs to: "password" or "key"
	KeyID         string // kept after a failed key login
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p := loginPage{}
		switch {
		case r.URL.Query().Get("expired") != "":
			p.Notice = "Your session expired. Log in again."
		case r.URL.Query().Get("out") != "":
			p.Notice = "You are logged out."
		}
		if _, state := c.session(r); state == liveSession {
			http.Redirect(w, r, Prefix, http.StatusSeeOther)
			return
		}
		c.render(w, http.StatusOK, "login.html", p)
	case http.MethodPost:
		c.loginPost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

const badCredentials = "Wrong password, or wrong access key ID or secret."

func (c *Console) loginPost(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	src := sourceIP(r)
	p := loginPage{Method: r.PostFormValue("method"), KeyID: r.PostFormValue("access_key_id")}
	if c.failures.blocked(src) {
		p.Error = "Too many failed logins from your address. Wait a minute and try again."
		c.render(w, http.StatusTooManyRequests, "login.html", p)
		return
	}
	var principal string
	var byPassword, ok bool
	switch p.Method {
	case "password":
		principal, byPassword = PasswordPrincipal, true
		ok = c.checkPassword(r.PostFormValue("password"))
	case "key":
		principal = p.KeyID
		ok = c.checkKey(principal, r.PostFormValue("access_key_secret"))
	default:
		http.Error(w, "unknown login method", http.StatusBadRequest)
		return
	}
	if !ok {
		c.failures.failed(src)
		c.cfg.Log.Warn("console login failed", "method", p.Method, "source", src)
		p.Error = badCredentials
		c.render(w, http.StatusUnauthorized, "login.html", p)
		return
	}
	c.endSession(r) // a new session ID at every login (no fixation)
	id, _ := c.createSession(principal, byPassword)
	setCookie(w, r, id, 0)
	c.cfg.Log.Info("console login", "principal", principal, "source", src)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// checkKey reports whether secret is the secret of access key id.
func (c *Console) checkKey(id, secret string) bool {
	if id == "" || secret == "" {
		return false
	}
	k, err := c.cfg.Plane.Key(id)
	if err != nil {
		if !errors.Is(err, controlplane.ErrKeyNotFound) {
			c.cfg.Log.Error("console login: reading the key failed", "err", err)
		}
		return false
	}
	return k.Secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(k.Secret)) == 1
}

// logout ends the session. It is a change, so it needs the CSRF token like any other.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s, state := c.session(r)
	if state != liveSession {
		http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !sameOrigin(r) || !validCSRF(r, s) {
		http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
		return
	}
	c.endSession(r)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, Prefix+"login?out=1", http.StatusSeeOther)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
