// Package console serves moat's web console on the API listener, under /console/: the "Whitelist
// Settings" page of the seeds (groups, Modify, Add Whitelist, Delete, import of host IPs, security
// groups), an access check, and recent activity.
//
// The page is plain HTML, CSS and JavaScript (native ES modules, assets/static/js) embedded in the
// binary (no framework, no build step, no CDN). Its script calls the control-plane API through
// /console/api, which hands each call to the API handler in-process as the logged-in caller
// (api.AsKey, api.AsPrincipal): the console gets exactly the actions, validation, policies, audit log
// and error codes the SDK and the CLI get, and has no action logic of its own.
//
// Logging in takes an access key (ID and secret) or the console password moat creates on first start.
// A session is a random cookie (HttpOnly, SameSite=Strict, path /console/) that expires after
// IdleTimeout without use or MaxAge after login; every state-changing request must carry the
// session's CSRF token and come from the same origin.
package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
)

// Prefix is where the console is served.
const Prefix = "/console/"

// PasswordPrincipal is the caller the audit log names for calls made in a session opened with the
// console password. It has the administrator's policy (every action on every instance).
const PasswordPrincipal = "console-password"

//go:embed assets
var assets embed.FS

// Config is what the console needs. Plane and API are required.
type Config struct {
	Plane *controlplane.Plane // checks access keys at login
	// API is the control-plane API handler (api.Handler): the console sends it every call, with the
	// caller in the request's context.
	API     http.Handler
	DataDir string // where the password file is written on first start
	Log     *slog.Logger

	IdleTimeout time.Duration // default DefaultIdleTimeout
	MaxAge      time.Duration // default DefaultMaxAge
	// PasswordIterations is the PBKDF2 cost of a new password (default 600,000; tests lower it).
	PasswordIterations int
	// Login rationing (limiter.go). HashParallel password checks run at once (default 1), HashQueue
	// more may wait (default 4), and HashRate start per second after a burst of both (default 0.5);
	// further password logins get 429 before any hashing. MaxLoginSources is how many client sources
	// the failed-login limiter remembers (default 65,536).
	HashParallel, HashQueue, MaxLoginSources int
	HashRate                                 float64
	// RefusalDelay is how long a login refused by the rationing (429) waits before it is answered
	// (default DefaultRefusalDelay; negative: none). A flood that waits for its answers then sends about
	// one attempt per second per connection, and the connection caps bound the rest, so a flood of
	// refused logins costs the served Redis clients little CPU.
	RefusalDelay time.Duration

	Now func() time.Time // nil: time.Now
}

// Console is the console's HTTP handler. It is safe for concurrent use.
type Console struct {
	cfg      Config
	sessions sessions
	pages    *template.Template
	static   fs.FS
	failures *failureLimiter
	hashes   *hashGate
	// passwordChecks counts password derivations done for logins (what the rationing bounds).
	passwordChecks atomic.Int64
}

// New returns a Console. Call EnsurePassword once at start so that password login is possible.
func New(cfg Config) *Console {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(assets, "assets/static")
	return &Console{
		cfg:      cfg,
		pages:    template.Must(template.ParseFS(assets, "assets/*.html")),
		static:   static,
		failures: newFailureLimiter(loginBurst, loginEvery, positive(cfg.MaxLoginSources, defaultMaxSources)),
		hashes:   newHashGate(positive(cfg.HashParallel, defaultHashParallel), positive(cfg.HashQueue, defaultHashQueue), hashRate(cfg.HashRate)),
	}
}

func hashRate(r float64) float64 {
	if r > 0 {
		return r
	}
	return defaultHashRate
}

func positive(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}

func (c *Console) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

func (c *Console) idle() time.Duration {
	if c.cfg.IdleTimeout > 0 {
		return c.cfg.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (c *Console) maxAge() time.Duration {
	if c.cfg.MaxAge > 0 {
		return c.cfg.MaxAge
	}
	return DefaultMaxAge
}

// securityHeaders apply to every console response: only the console's own files may run or style
// the page, it cannot be framed, and no console address leaks to other sites through the Referer header.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: that makes browsers send "Origin: null" with forms
}

// ServeHTTP serves everything under Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case rest == "":
		c.app(w, r)
	case rest == "login":
		c.login(w, r)
	case rest == "logout":
		c.logout(w, r)
	case rest == "api":
		c.api(w, r)
	case strings.HasPrefix(rest, "static/"):
		c.serveStatic(w, r, strings.TrimPrefix(rest, "static/"))
	default:
		http.NotFound(w, r)
	}
}

// app serves the console page to a logged-in browser, and sends others to the login page.
func (c *Console) app(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s, state := c.session(r)
	if state != liveSession {
		target := Prefix + "login"
		if state == expiredSession {
			target += "?expired=1"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	c.render(w, http.StatusOK, "app.html", map[string]any{
		"CSRF": s.csrf, "Principal": s.principal, "ByPassword": s.byPassword,
		"IdleMinutes": int(c.idle() / time.Minute),
	})
}

func (c *Console) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
		c.cfg.Log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// serveStatic serves the embedded files under assets/static: the entry script app.js and the ES
// modules it imports from js/, the style sheet and the icon. They hold no secrets and are served
// without a session (the login page uses the style sheet). name is a clean path inside that
// directory (no "..", no leading or trailing slash); a directory is not served. Scripts are
// text/javascript, which browsers require of module scripts (with nosniff, of every script).
func (c *Console) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if name == "" || !fs.ValidPath(name) || path.Clean(name) != name {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(c.static, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "no-cache") // revalidate: a new moat binary may ship new files
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
