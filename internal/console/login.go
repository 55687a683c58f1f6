package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

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
	src := sourceAddr(r)
	p := loginPage{Method: r.PostFormValue("method"), KeyID: r.PostFormValue("access_key_id")}
	if p.Method != "password" && p.Method != "key" {
		http.Error(w, "unknown login method", http.StatusBadRequest)
		return
	}
	// The attempt is counted before the credentials are checked, so that concurrent attempts from one
	// source cannot all pass a check made before any of them failed; a success gives it back.
	if !c.failures.reserve(src, c.now()) {
		p.Error = "Too many failed logins from your address. Wait a minute and try again."
		c.delayRefusal(r)
		w.Header().Set("Retry-After", strconv.Itoa(int(loginEvery/time.Second)))
		c.render(w, http.StatusTooManyRequests, "login.html", p)
		return
	}
	var principal string
	var byPassword, ok bool
	if p.Method == "password" {
		principal, byPassword = PasswordPrincipal, true
		if !c.hashes.enter(r.Context(), c.now()) {
			c.failures.refund(src, c.now()) // not evaluated
			p.Error = "Too many logins in progress. Try again in a moment."
			c.delayRefusal(r)
			w.Header().Set("Retry-After", "1")
			c.render(w, http.StatusTooManyRequests, "login.html", p)
			return
		}
		ok = c.checkPassword(r.PostFormValue("password"))
		c.hashes.leave()
	} else {
		principal = p.KeyID
		ok = c.checkKey(principal, r.PostFormValue("access_key_secret"))
	}
	if !ok {
		c.cfg.Log.Warn("console login failed", "method", p.Method, "source", src.String())
		p.Error = badCredentials
		c.render(w, http.StatusUnauthorized, "login.html", p)
		return
	}
	c.failures.refund(src, c.now())
	c.endSession(r) // a new session ID at every login (no fixation)
	id, _ := c.createSession(principal, byPassword)
	setCookie(w, r, id, 0)
	c.cfg.Log.Info("console login", "principal", principal, "source", src.String())
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// DefaultRefusalDelay is Config.RefusalDelay's default.
const DefaultRefusalDelay = time.Second

// delayRefusal waits Config.RefusalDelay (or until the client goes away) before a rationed login is
// refused: the tarpit that keeps a login flood from costing CPU in proportion to its speed.
func (c *Console) delayRefusal(r *http.Request) {
	d := c.cfg.RefusalDelay
	if d == 0 {
		d = DefaultRefusalDelay
	}
	if d < 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
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

// sourceAddr is the request's client address: the peer, or the client a trusted proxy named (moat's
// HTTP server sets RemoteAddr so). The zero Addr if it cannot be parsed.
func sourceAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
