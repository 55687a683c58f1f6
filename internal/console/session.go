package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Session defaults.
const (
	DefaultIdleTimeout = 30 * time.Minute // a session unused this long ends
	DefaultMaxAge      = 12 * time.Hour   // a session ends this long after login, used or not
	maxSessions        = 10_000           // beyond this the least recently used session is dropped
	cookieName         = "moat_console"
)

// session is one logged-in browser. Sessions live in memory: a restart of moat logs everyone out.
type session struct {
	principal  string // the access key ID, or PasswordPrincipal
	byPassword bool
	csrf       string // the synchroniser token every change must carry
	created    time.Time
	lastSeen   time.Time
}

// sessions maps the SHA-256 of a cookie value to its session, so that the map's keys are not the
// credentials themselves and lookups leak nothing useful through timing.
type sessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return encode(b)
}

// create starts a session and returns its cookie value.
func (c *Console) createSession(principal string, byPassword bool) (string, *session) {
	now := c.now()
	id := newToken()
	s := &session{principal: principal, byPassword: byPassword, csrf: newToken(), created: now, lastSeen: now}
	st := &c.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID == nil {
		st.byID = map[[32]byte]*session{}
	}
	if len(st.byID) >= maxSessions {
		c.sweepLocked(now)
	}
	if len(st.byID) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for k, v := range st.byID {
			if at.IsZero() || v.lastSeen.Before(at) {
				oldest, at = k, v.lastSeen
			}
		}
		delete(st.byID, oldest)
	}
	st.byID[sha256.Sum256([]byte(id))] = s
	return id, s
}

// sweepLocked drops expired sessions; c.sessions.mu is held.
func (c *Console) sweepLocked(now time.Time) {
	for k, s := range c.sessions.byID {
		if c.expired(s, now) {
			delete(c.sessions.byID, k)
		}
	}
}

func (c *Console) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) > c.idle() || now.Sub(s.created) > c.maxAge()
}

// sessionState is what a request's cookie says.
type sessionState int

const (
	noSession sessionState = iota // no cookie, or one moat never issued
	expiredSession
	liveSession
)

// session returns the request's live session, refreshing its idle timer, or why there is none.
func (c *Console) session(r *http.Request) (*session, sessionState) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, noSession
	}
	key := sha256.Sum256([]byte(ck.Value))
	now := c.now()
	st := &c.sessions
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.byID[key]
	if s == nil {
		return nil, noSession
	}
	if c.expired(s, now) {
		delete(st.byID, key)
		return nil, expiredSession
	}
	s.lastSeen = now
	cp := *s
	return &cp, liveSession
}

// endSession forgets the request's session (logout).
func (c *Console) endSession(r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.sessions.mu.Lock()
		delete(c.sessions.byID, sha256.Sum256([]byte(ck.Value)))
		c.sessions.mu.Unlock()
	}
}

// endSessionsOf forgets every session of principal (used when its key no longer exists).
func (c *Console) endSessionsOf(principal string) {
	c.sessions.mu.Lock()
	for k, s := range c.sessions.byID {
		if s.principal == principal && !s.byPassword {
			delete(c.sessions.byID, k)
		}
	}
	c.sessions.mu.Unlock()
}

// setCookie sends the session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (no other
// site can make the browser send it), scoped to the console, Secure when the request came over TLS.
func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// validCSRF reports whether the request carries the session's CSRF token, in the X-CSRF-Token header
// (scripts) or the csrf form field (plain forms), compared in constant time.
func validCSRF(r *http.Request, s *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// sameOrigin rejects requests another site made the browser send: an Origin header must name this
// host, and Sec-Fetch-Site, when the browser sends it, must not say cross-site or same-site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not sent by every browser for every request; the token and SameSite still hold
	}
	u, err := url.Parse(origin)
	// The host must match; the scheme may differ behind a proxy that terminates TLS.
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == r.Host
}
