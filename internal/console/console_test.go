package console_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/console"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/controlplane/store"
)

// clock is a settable clock shared by the console under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a console in front of a real control plane (bbolt store) and the real API handler, served
// over HTTP as moat serves it.
type env struct {
	t        *testing.T
	plane    *controlplane.Plane
	store    *store.Bolt
	srv      *httptest.Server
	clock    *clock
	dir      string
	password string
	inst     string
	console  *console.Console
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the console's configuration adjusted by tune (when not nil).
func newEnvWith(t *testing.T, tune func(*console.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	plane := controlplane.New(st, log)
	e := &env{t: t, plane: plane, store: st, dir: dir, inst: "r-test", clock: &clock{t: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}}
	in := model.Instance{ID: e.inst, Name: "test", Listen: []string{"127.0.0.1:0"}, Backend: "embedded", EngineVersion: "7.0", Groups: allowlist.Initial(), Origin: model.OriginAPI}
	if err := plane.CreateInstance(controlplane.Actor{KeyID: "config"}, in); err != nil {
		t.Fatal(err)
	}
	cfg := console.Config{
		Plane: plane, API: api.New(plane, nil, log), DataDir: dir, Log: log,
		IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour, PasswordIterations: 1000, Now: e.clock.now,
	}
	if tune != nil {
		tune(&cfg)
	}
	c := console.New(cfg)
	e.console = c
	path, created, err := c.EnsurePassword(controlplane.Actor{KeyID: "config"})
	if err != nil || !created {
		t.Fatalf("EnsurePassword: created=%v err=%v", created, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e.password = strings.TrimSpace(string(b))
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// browser is an HTTP client with a cookie jar that behaves like a same-origin page: it sends Origin
// and Sec-Fetch-Site as a browser does for the console's own requests.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) *http.Response {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if method == http.MethodPost {
		req.Header.Set("Origin", b.e.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return res
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// login logs in with form and loads the console page, keeping its CSRF token.
func (b *browser) login(form url.Values) {
	b.e.t.Helper()
	res := b.do("POST", "/console/login", form, nil)
	body := readAll(b.e.t, res)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		b.e.t.Fatalf("login: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	res = b.do("GET", "/console/", nil, nil)
	body = readAll(b.e.t, res)
	m := csrfMeta.FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil {
		b.e.t.Fatalf("console page after login: %d, CSRF token found: %v\n%s", res.StatusCode, m != nil, body)
	}
	b.csrf = m[1]
}

func (b *browser) loginPassword() {
	b.login(url.Values{"method": {"password"}, "password": {b.e.password}})
}

// call sends one API call through the console, as the page's script does.
func (b *browser) call(params map[string]string, header map[string]string) (int, map[string]any) {
	b.e.t.Helper()
	form := url.Values{"Version": {api.VersionKVStore}}
	for k, v := range params {
		form.Set(k, v)
	}
	h := map[string]string{"X-CSRF-Token": b.csrf}
	for k, v := range header {
		h[k] = v
	}
	res := b.do("POST", "/console/api", form, h)
	body := readAll(b.e.t, res)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		b.e.t.Fatalf("%s: answer is not JSON: %d %q", params["Action"], res.StatusCode, body)
	}
	return res.StatusCode, out
}

func (e *env) groups() []allowlist.Group {
	e.t.Helper()
	in, err := e.plane.Instance(e.inst)
	if err != nil {
		e.t.Fatal(err)
	}
	return in.Groups
}

func (e *env) audit() []controlplane.AuditEntry {
	e.t.Helper()
	log, err := e.plane.AuditLog(controlplane.AuditFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return log
}

// audited counts the records of both audit logs: changes and failed calls.
func (e *env) audited() int {
	e.t.Helper()
	failed, _, err := e.plane.FailedCalls(controlplane.AuditFilter{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(e.audit()) + len(failed)
}

// The cookie that carries a session is HttpOnly, SameSite=Strict and scoped to the console; the page
// is served only with a session; wrong credentials are refused with one message for both ways in.
func TestLoginAndSessionCookie(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	res := b.do("GET", "/console/", nil, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Fatalf("GET /console/ without a session: %d %q, want 303 to /console/login", res.StatusCode, res.Header.Get("Location"))
	}
	for _, form := range []url.Values{
		{"method": {"password"}, "password": {"not-the-password"}},
		{"method": {"password"}, "password": {""}},
		{"method": {"key"}, "access_key_id": {"MOATNOSUCHKEY"}, "access_key_secret": {"x"}},
	} {
		res := b.do("POST", "/console/login", form, nil)
		body := readAll(t, res)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong password, or wrong access key ID or secret.") {
			t.Errorf("login %v: %d, want 401 with the message\n%s", form, res.StatusCode, body)
		}
		if len(res.Cookies()) != 0 {
			t.Errorf("login %v failed but set cookies %v", form, res.Cookies())
		}
	}

	res = b.do("POST", "/console/login", url.Values{"method": {"password"}, "password": {e.password}}, nil)
	readAll(t, res)
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "moat_console" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("no session cookie after login: %v", res.Header["Set-Cookie"])
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || len(ck.Value) < 40 {
		t.Errorf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/console/ and a long random value", res.Header.Get("Set-Cookie"))
	}
	res = b.do("GET", "/console/", nil, nil)
	body := readAll(t, res)
	if res.StatusCode != 200 || !strings.Contains(body, "console-password") {
		t.Fatalf("console page: %d\n%s", res.StatusCode, body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if res.Header.Get(h) == "" {
			t.Errorf("console page lacks the %s header", h)
		}
	}

	// An access key logs in with its ID and secret, and the console acts with its policy.
	k, err := e.plane.CreateKey(controlplane.Actor{KeyID: "test"}, "ops", []string{"Describe*"}, []string{e.inst})
	if err != nil {
		t.Fatal(err)
	}
	kb := e.browser()
	res = kb.do("POST", "/console/login", url.Values{"method": {"key"}, "access_key_id": {k.ID}, "access_key_secret": {k.Secret + "x"}}, nil)
	if readAll(t, res); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("key login with a wrong secret: %d, want 401", res.StatusCode)
	}
	kb.login(url.Values{"method": {"key"}, "access_key_id": {k.ID}, "access_key_secret": {k.Secret}})
}

// The password moat creates is written once to a 0600 file, and only a salted hash of it is stored.
func TestPasswordIsStoredHashed(t *testing.T) {
	e := newEnv(t)
	fi, err := os.Stat(filepath.Join(e.dir, console.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(e.password) < 16 {
		t.Errorf("password %d characters long, want at least 16", len(e.password))
	}
	e.store.View(func(tx store.Tx) error {
		kvs, err := tx.List("")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range kvs {
			if strings.Contains(string(kv.Value), e.password) {
				t.Errorf("the state store holds the console password in clear under %q", kv.Key)
			}
		}
		b, err := tx.Get("console/password")
		if err != nil || !strings.Contains(string(b), "pbkdf2-sha256") {
			t.Errorf("stored hash %q (%v), want a pbkdf2-sha256 record", b, err)
		}
		return nil
	})
	// A second start keeps the password.
	c := console.New(console.Config{Plane: e.plane, DataDir: e.dir})
	if _, created, err := c.EnsurePassword(controlplane.Actor{KeyID: "config"}); err != nil || created {
		t.Errorf("second EnsurePassword: created=%v err=%v, want an unchanged password", created, err)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, console.PasswordFile))
	if strings.TrimSpace(string(b)) != e.password {
		t.Errorf("the password file changed on the second start")
	}
}

// CSRF: every call through the console and the logout need the session's token, sent by a same-origin
// page; a change without it changes nothing and is not even audited.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginPassword()
	other := e.browser()
	other.loginPassword()
	if other.csrf == b.csrf {
		t.Fatal("two sessions share a CSRF token")
	}
	change := map[string]string{"Action": "ModifySecurityIps", "InstanceId": e.inst, "SecurityIpGroupName": "evil", "SecurityIps": "0.0.0.0/0"}
	auditBefore := e.audited()
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   string
	}{
		{"no token", map[string]string{"X-CSRF-Token": ""}, "ConsoleCSRF"},
		{"wrong token", map[string]string{"X-CSRF-Token": "AAAA" + b.csrf[4:]}, "ConsoleCSRF"},
		{"another session's token", map[string]string{"X-CSRF-Token": other.csrf}, "ConsoleCSRF"},
		{"cross-site origin", map[string]string{"Origin": "http://evil.example"}, "ConsoleCrossOrigin"},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, "ConsoleCrossOrigin"},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, "ConsoleCrossOrigin"},
	} {
		status, out := b.call(change, tc.header)
		if status != http.StatusForbidden || out["Code"] != tc.code {
			t.Errorf("%s: %d %v, want 403 %s", tc.name, status, out, tc.code)
		}
	}
	// A plain form post (what another site's <form> could send) cannot carry the header.
	res := b.do("POST", "/console/api", url.Values{"Action": {"ModifySecurityIps"}, "Version": {api.VersionKVStore}, "InstanceId": {e.inst},
		"SecurityIpGroupName": {"evil"}, "SecurityIps": {"0.0.0.0/0"}, "csrf": {b.csrf}}, map[string]string{"Origin": ""})
	if body := readAll(t, res); res.StatusCode != http.StatusForbidden {
		t.Errorf("form post with the token as a field: %d, want 403\n%s", res.StatusCode, body)
	}
	for _, g := range e.groups() {
		if g.Name == "evil" {
			t.Fatal("a refused call changed the whitelist")
		}
	}
	if n := e.audited(); n != auditBefore {
		t.Errorf("refused calls added %d audit entries", n-auditBefore)
	}

	// With the token the same call goes through, and W7's warning comes back.
	status, out := b.call(change, nil)
	if status != 200 || out["MoatWarnings"] == nil {
		t.Fatalf("with the token: %d %v", status, out)
	}
	// Logout is a change too.
	res = b.do("POST", "/console/logout", url.Values{"csrf": {"wrong"}}, nil)
	if readAll(t, res); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a wrong token: %d, want 403", res.StatusCode)
	}
	res = b.do("POST", "/console/logout", url.Values{"csrf": {b.csrf}}, nil)
	if readAll(t, res); res.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d, want 303", res.StatusCode)
	}
	if status, out := b.call(map[string]string{"Action": "DescribeSecurityIps", "InstanceId": e.inst}, nil); status != 401 || out["Code"] != "ConsoleLoginRequired" {
		t.Errorf("call after logout: %d %v, want 401 ConsoleLoginRequired", status, out)
	}
	// Logging in again gives a new session and a new token.
	old := b.csrf
	b.loginPassword()
	if b.csrf == old {
		t.Error("the CSRF token survived a logout and login")
	}
	// Cross-origin login attempts are refused before the credentials are looked at.
	res = b.do("POST", "/console/login", url.Values{"method": {"password"}, "password": {e.password}}, map[string]string{"Origin": "http://evil.example"})
	if readAll(t, res); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin login: %d, want 403", res.StatusCode)
	}
}

// Sessions end after 30 minutes without use and 12 hours after login however busy; an expired session
// is told so, and its cookie no longer works.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	describe := map[string]string{"Action": "DescribeSecurityIps", "InstanceId": e.inst}

	idle := e.browser()
	idle.loginPassword()
	e.clock.add(29 * time.Minute)
	if status, _ := idle.call(describe, nil); status != 200 {
		t.Fatalf("after 29 idle minutes: %d, want 200", status)
	}
	e.clock.add(29 * time.Minute) // 29 minutes after the last use: still alive (the timer slides)
	if status, _ := idle.call(describe, nil); status != 200 {
		t.Fatalf("29 minutes after the last use: %d, want 200", status)
	}
	e.clock.add(31 * time.Minute)
	status, out := idle.call(describe, nil)
	if status != 401 || out["Code"] != "ConsoleSessionExpired" {
		t.Fatalf("after 31 idle minutes: %d %v, want 401 ConsoleSessionExpired", status, out)
	}
	res := idle.do("GET", "/console/", nil, nil)
	readAll(t, res)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login" {
		t.Errorf("page with an expired (now forgotten) session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}

	busy := e.browser()
	busy.loginPassword()
	for i := 0; i < 36; i++ { // 12 hours of use every 20 minutes
		e.clock.add(20 * time.Minute)
		if status, _ := busy.call(describe, nil); status != 200 {
			t.Fatalf("busy session after %v: %d, want 200", time.Duration(i+1)*20*time.Minute, status)
		}
	}
	e.clock.add(20 * time.Minute)
	res = busy.do("GET", "/console/", nil, nil)
	readAll(t, res)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/login?expired=1" {
		t.Errorf("page 12h20m after login: %d %q, want 303 to /console/login?expired=1", res.StatusCode, res.Header.Get("Location"))
	}
	res = busy.do("GET", "/console/login?expired=1", nil, nil)
	if body := readAll(t, res); !strings.Contains(body, "Your session expired") {
		t.Errorf("login page does not say the session expired:\n%s", body)
	}
}

// The console has no action logic of its own: a call through it is the API's call, with the API's
// validation and error codes, the caller's policy, and the audit log naming the caller and source.
func TestConsoleCallsAreAPICalls(t *testing.T) {
	e := newEnv(t)
	admin := e.browser()
	admin.loginPassword()

	status, out := admin.call(map[string]string{"Action": "ModifySecurityIps", "InstanceId": e.inst, "SecurityIpGroupName": "Bad-Name", "SecurityIps": "10.0.0.1"}, nil)
	if status != 400 || out["Code"] != "InvalidGroupName.Format" || !strings.Contains(out["Message"].(string), "must start with a lowercase letter") {
		t.Errorf("invalid group name: %d %v", status, out)
	}
	status, out = admin.call(map[string]string{"Action": "ModifySecurityIps", "InstanceId": e.inst, "SecurityIpGroupName": "app", "SecurityIps": "10.0.0.5/24"}, nil)
	if status != 400 || out["Code"] != "InvalidSecurityIPList.Format" || !strings.Contains(out["Message"].(string), "10.0.0.0/24") {
		t.Errorf("host bits set: %d %v, want the canonical form named", status, out)
	}
	if status, out = admin.call(map[string]string{"Action": "ModifySecurityIps", "InstanceId": e.inst, "SecurityIpGroupName": "app", "SecurityIps": "10.0.0.0/24"}, nil); status != 200 {
		t.Fatalf("valid change: %d %v", status, out)
	}
	last := e.audit()[0]
	if last.Action != "ModifySecurityIps" || last.KeyID != console.PasswordPrincipal || last.Source != "127.0.0.1" || last.Result != "ok" || len(last.After) == 0 {
		t.Errorf("audit entry of the console's change: %+v", last)
	}
	if status, out = admin.call(map[string]string{"Action": "DeleteSecurityIpGroup", "InstanceId": e.inst, "SecurityIpGroupName": "default"}, nil); status != 400 || out["Code"] != "OperationDenied.DefaultGroup" {
		t.Errorf("delete default: %d %v", status, out)
	}
	if status, out = admin.call(map[string]string{"Action": "NoSuchAction"}, nil); status != 404 || out["Code"] != "InvalidAction.NotFound" {
		t.Errorf("unknown action: %d %v", status, out)
	}

	// A key allowed only Describe* sees the whitelist and cannot change it; the denial is audited among
	// the failed calls under its own ID.
	k, err := e.plane.CreateKey(controlplane.Actor{KeyID: "test"}, "read only", []string{"Describe*"}, []string{e.inst})
	if err != nil {
		t.Fatal(err)
	}
	ro := e.browser()
	ro.login(url.Values{"method": {"key"}, "access_key_id": {k.ID}, "access_key_secret": {k.Secret}})
	if status, out = ro.call(map[string]string{"Action": "DescribeSecurityIps", "InstanceId": e.inst}, nil); status != 200 {
		t.Errorf("read-only key describe: %d %v", status, out)
	}
	if status, out = ro.call(map[string]string{"Action": "ModifySecurityIps", "InstanceId": e.inst, "SecurityIps": "10.9.9.9"}, nil); status != 403 || out["Code"] != "Forbidden.RAM" {
		t.Errorf("read-only key modify: %d %v, want 403 Forbidden.RAM", status, out)
	}
	if failed, _, err := e.plane.FailedCalls(controlplane.AuditFilter{}); err != nil || len(failed) == 0 ||
		failed[0].KeyID != k.ID || failed[0].Result != controlplane.ResultDenied || failed[0].Count != 1 {
		t.Errorf("denied call audited as %+v (%v)", failed, err)
	}
	if status, out = ro.call(map[string]string{"Action": "DescribeSecurityIps", "InstanceId": "r-other"}, nil); status != 403 {
		t.Errorf("read-only key on another instance: %d %v, want 403", status, out)
	}

	// Deleting the key ends its console sessions.
	if err := e.plane.DeleteKey(controlplane.Actor{KeyID: "test"}, k.ID); err != nil {
		t.Fatal(err)
	}
	if status, out = ro.call(map[string]string{"Action": "DescribeSecurityIps", "InstanceId": e.inst}, nil); status != 404 || out["Code"] != "InvalidAccessKeyId.NotFound" {
		t.Errorf("call with a deleted key: %d %v", status, out)
	}
	if status, out = ro.call(map[string]string{"Action": "DescribeSecurityIps", "InstanceId": e.inst}, nil); status != 401 {
		t.Errorf("next call with a deleted key: %d %v, want 401 (session ended)", status, out)
	}
}

// Guessing is slowed down: after 5 failures an address must wait, even with the right password.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := 0; i < 5; i++ {
		res := b.do("POST", "/console/login", url.Values{"method": {"password"}, "password": {"guess"}}, nil)
		if readAll(t, res); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	res := b.do("POST", "/console/login", url.Values{"method": {"password"}, "password": {e.password}}, nil)
	if body := readAll(t, res); res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") {
		t.Errorf("after 5 failures: %d, want 429\n%s", res.StatusCode, body)
	}
}

// The console works offline: the page, script and style sheet come from the binary, and none of them
// loads anything from another host.
func TestAssetsAreSelfContained(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.loginPassword()
	anon := e.browser()
	for _, p := range []string{"/console/static/app.js", "/console/static/style.css", "/console/static/icon.svg", "/console/login", "/console/"} {
		client := b
		if p == "/console/login" {
			client = anon // a logged-in browser is sent on to the console
		}
		res := client.do("GET", p, nil, nil)
		body := readAll(t, res)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, res.StatusCode)
			continue
		}
		for _, m := range regexp.MustCompile(`(?i)(src|href)=["']?(https?:)?//`).FindAllString(body, -1) {
			t.Errorf("%s loads from another host: %s", p, m)
		}
		if strings.Contains(body, "@import") || strings.Contains(body, "url(http") {
			t.Errorf("%s imports an external resource", p)
		}
	}
	for _, p := range []string{"/console/static/../console.go", "/console/static/", "/console/nothing"} {
		res := b.do("GET", p, nil, nil)
		if readAll(t, res); res.StatusCode == http.StatusOK {
			t.Errorf("GET %s: %d, want 404 (or the mux's redirect to the cleaned path)", p, res.StatusCode)
		}
	}
}

// The console's script never parses text as HTML: what the API says (error messages, names, audit
// entries) is put in the page as text (textContent, text nodes), so that it cannot inject markup.
// Every script is checked: app.js and the modules it imports.
func TestConsoleScriptPutsNoHTML(t *testing.T) {
	for _, name := range scripts(t) {
		b, err := os.ReadFile(filepath.Join("assets", "static", filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range regexp.MustCompile(`\.(innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser|srcdoc`).FindAllString(line, -1) {
				t.Errorf("%s:%d: %s parses text as HTML", name, i+1, m)
			}
		}
	}
}
