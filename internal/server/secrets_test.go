package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/console"
	"github.com/moat-dev/moat/internal/redistest"
)

// Issue 15.7, adversarial: moat is given secrets by every way it takes them — a credential-bearing
// backend URL at `moat serve` and in CreateInstance, ACL passwords through ACL SETUSER, the API's
// account and ACL actions and requirepass, wrong passwords tried by a client, the console password,
// access key secrets — and then asked for everything it shows: every API answer (administrator, a
// Describe* reader, a "*" key), the audit log, /metrics, the console's pages and its API, its log and
// its banner. None of it holds a secret, in clear or as its SHA-256 hex hash, except the answers that
// must: CreateAccessKey's (the new secret, once) and DescribeACLUsers/ExportACL to a key whose policy
// names DescribeACLUserSecrets (the hashes).

// recorder keeps everything moat wrote that a reader can see, by where it came from.
type recorder struct {
	t   *testing.T
	out map[string]string
}

func (r *recorder) add(where, text string) {
	r.out[where] += text + "\n"
}

// call makes an API call with c and records its answer (error answers too) under who/action.
func (r *recorder) call(who string, c *cli.Client, action string, params map[string]string) json.RawMessage {
	r.t.Helper()
	var raw json.RawMessage
	err := c.Call(action, params, &raw)
	if err != nil {
		r.add(who+" "+action+" (error)", err.Error())
		return nil
	}
	r.add(who+" "+action, string(raw))
	return raw
}

// mustCall is call that must succeed.
func (r *recorder) mustCall(who string, c *cli.Client, action string, params map[string]string) json.RawMessage {
	r.t.Helper()
	var raw json.RawMessage
	if err := c.Call(action, params, &raw); err != nil {
		r.t.Fatalf("%s %s %v: %v", who, action, params, err)
	}
	r.add(who+" "+action, string(raw))
	return raw
}

// get fetches an HTTP page and records its body.
func (r *recorder) get(where string, hc *http.Client, u string) string {
	r.t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		r.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.add(where, string(b))
	return string(b)
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestNoSecretInAnythingMoatWrites(t *testing.T) {
	const (
		backendPw  = "Sup3rSecret"    // moat's login to the backend, in --backend
		backend2Pw = "An0ther_Secret" // in CreateInstance's Backend
		alicePw    = "AlicePw_1"      // ModifyACLUser
		bobPw      = "BobPass_22"     // CreateAccount
		bobNewPw   = "BobNewPass_33"  // ResetAccountPassword
		carolPw    = "CarolPw_3"      // ACL SETUSER through the gateway
		carolPw2   = "CarolSecond_4"  // ACL SETUSER … >pw inside a rejected rule list
		requirePw  = "ReqPass_44"     // requirepass through ModifyInstanceConfig
		wrongPw    = "WrongGuess_55"  // a client's failed AUTH
		badReqPw   = "LongReq_77"     // in a requirepass refused for its length
	)
	redis := redistest.Start(t, "--user", "app", "on", ">"+backendPw, "~*", "&*", "+@all",
		"--user", "app2", "on", ">"+backend2Pw, "~*", "&*", "+@all", "--requirepass", "adminpw_unused")
	dir := t.TempDir()
	var logs, banner redistest.Buffer
	s, err := Start(Options{DataDir: dir, Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0",
		Backend: "redis://app:" + backendPw + "@" + redis.Addr,
		Log:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Banner: &banner})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := &recorder{t: t, out: map[string]string{}}
	admin := adminClient(t, s)
	insts, _ := s.Plane().Instances()
	inst := insts[0].ID
	listen := s.Gateway(inst).Addrs()[0].String()
	endpoint := "http://" + s.APIAddr().String()

	// Keys: a Describe* reader (the policy of issue 15's finding 8) and a "*" key that is not the
	// administrator; their secrets are answered once, by CreateAccessKey.
	newKey := func(actions string) *cli.Client {
		var k struct{ AccessKeyId, AccessKeySecret string }
		if err := admin.Call("CreateAccessKey", map[string]string{"Actions": actions, "Instances": "*"}, &k); err != nil {
			t.Fatal(err)
		}
		return &cli.Client{Endpoint: endpoint, KeyID: k.AccessKeyId, Secret: k.AccessKeySecret}
	}
	reader, star := newKey("Describe*,CheckAccess"), newKey("*")
	clients := map[string]*cli.Client{"admin": admin, "reader": reader, "star": star}

	// Changes that carry secrets, by every way in.
	rec.mustCall("admin", admin, "ModifySecurityIps", map[string]string{"InstanceId": inst, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"})
	rec.mustCall("admin", admin, "ModifyACLUser", map[string]string{"InstanceId": inst, "UserName": "alice", "Rules": "on >" + alicePw + " ~app:* +@all"})
	rec.mustCall("admin", admin, "CreateAccount", map[string]string{"InstanceId": inst, "AccountName": "bob", "AccountPassword": bobPw})
	rec.mustCall("admin", admin, "ResetAccountPassword", map[string]string{"InstanceId": inst, "AccountName": "bob", "AccountPassword": bobNewPw})
	rec.call("admin", admin, "ModifyACLUser", map[string]string{"InstanceId": inst, "UserName": "alice", "Rules": ">" + carolPw2 + " +nosuch"})
	c := redistest.DialFrom(t, listen, "127.0.0.2")
	for cmd, want := range map[string]string{
		"ACL SETUSER carol on >" + carolPw + " ~* +@all":   "+OK",
		"ACL SETUSER carol >" + carolPw2 + " +nosuchthing": "-ERR Error in ACL SETUSER modifier '+nosuchthing': Unknown command or category name in ACL",
	} {
		if got := c.Do(cmd); got != want {
			t.Fatalf("%s: %q, want %q", cmd, got, want)
		}
	}
	rec.mustCall("admin", admin, "ModifyInstanceConfig", map[string]string{"InstanceId": inst, "Config": `{"requirepass":"` + requirePw + `"}`})
	rec.call("admin", admin, "ModifyInstanceConfig", map[string]string{"InstanceId": inst, "Config": `{"requirepass":"` + strings.Repeat(badReqPw, 500) + `"}`})
	var created struct{ InstanceId string }
	if err := admin.Call("CreateInstance", map[string]string{"InstanceId": "r-second", "Backend": "redis://app2:" + backend2Pw + "@" + redis.Addr + "/1"}, &created); err != nil {
		t.Fatal(err)
	}
	// Clients log in, well and badly; ACL LOG records the failure.
	for _, login := range []struct{ cmd, want string }{
		{"AUTH " + requirePw, "+OK"}, {"AUTH alice " + alicePw, "+OK"}, {"AUTH bob " + bobNewPw, "+OK"},
		{"AUTH carol " + carolPw, "+OK"}, {"AUTH alice " + wrongPw, "-WRONGPASS invalid username-password pair or user is disabled."},
	} {
		if got := redistest.DialFrom(t, listen, "127.0.0.3").Do(login.cmd); got != login.want {
			t.Fatalf("%s: %q, want %q", login.cmd, got, login.want)
		}
	}

	// Everything a reader can ask, by every key.
	for who, k := range clients {
		for _, id := range []string{inst, "r-second"} {
			p := map[string]string{"InstanceId": id}
			for _, a := range []string{"DescribeInstanceAttribute", "DescribeSecurityIps", "DescribeAccounts", "DescribeACLUsers",
				"ExportACL", "DescribeAuditLogs", "DescribeRefusedConnections", "DescribeSecurityGroupConfiguration"} {
				rec.call(who, k, a, p)
			}
			rec.call(who, k, "DescribeParameters", map[string]string{"DBInstanceId": id})
			rec.call(who, k, "CheckAccess", map[string]string{"InstanceId": id, "SourceIp": "127.0.0.3", "UserName": "alice"})
		}
		rec.call(who, k, "DescribeInstances", nil)
		rec.call(who, k, "DescribeAccessKeys", nil)
		rec.call(who, k, "DescribeAuditLogs", map[string]string{"PageSize": "1000"})
	}
	for _, who := range []string{"admin", "reader", "star"} { // ACL LOG through the gateway is the Redis client's, not here
		if !strings.Contains(rec.out[who+" DescribeAuditLogs"], "ModifyInstanceConfig") {
			t.Fatalf("%s's audit log lacks the requirepass change:\n%s", who, rec.out[who+" DescribeAuditLogs"])
		}
	}
	rec.get("/metrics", http.DefaultClient, endpoint+"/metrics")

	// The console: the password from its file, its pages and the Activity page's calls.
	pwBytes, err := os.ReadFile(filepath.Join(dir, console.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	consolePw := strings.TrimSpace(string(pwBytes))
	for _, principal := range []struct {
		name string
		form url.Values
	}{
		{"console password", url.Values{"method": {"password"}, "password": {consolePw}}},
		{"console reader key", url.Values{"method": {"key"}, "access_key_id": {reader.KeyID}, "access_key_secret": {reader.Secret}}},
	} {
		consoleSession(t, rec, endpoint, principal.name, principal.form, inst)
	}
	s.Close()
	rec.add("log", logs.String())
	rec.add("banner", banner.String())

	// Positive controls: the scan reads what it should.
	if !strings.Contains(rec.out["log"], "redis://app:xxxxx@"+redis.Addr) || !strings.Contains(rec.out["admin DescribeACLUsers"], "#"+acl.HashPassword([]byte(alicePw))) {
		t.Fatalf("the log or the administrator's DescribeACLUsers is not what the test expects:\n%s\n%s", rec.out["log"], rec.out["admin DescribeACLUsers"])
	}
	if e := rec.out["admin ModifyInstanceConfig (error)"]; !strings.Contains(e, `value "xxxxx": must be at most 4096 bytes`) {
		t.Errorf("the refused requirepass is not answered as expected: %q", e)
	}
	for _, who := range []string{"reader", "star"} {
		if !strings.Contains(rec.out[who+" DescribeACLUsers"], `"PasswordsRedacted":true`) || !strings.Contains(rec.out[who+" DescribeACLUsers"], "#xxxxx") {
			t.Errorf("%s's DescribeACLUsers does not say the hashes are masked: %s", who, rec.out[who+" DescribeACLUsers"])
		}
	}

	secrets := map[string]string{"backend password": backendPw, "CreateInstance backend password": backend2Pw,
		"alice's password": alicePw, "bob's password": bobPw, "bob's new password": bobNewPw, "carol's password": carolPw,
		"a password in a refused rule": carolPw2, "requirepass": requirePw, "a wrong password": wrongPw, "a refused requirepass": badReqPw,
		"the console password": consolePw, "the administrator's secret": admin.Secret, "the reader's secret": reader.Secret,
		"the * key's secret": star.Secret}
	for name, v := range secrets {
		secrets["SHA-256 of "+name] = sha256hex(v)
	}
	// The only places allowed to hold a hash: answers to the administrator, whose policy names
	// DescribeACLUserSecrets, for DescribeACLUsers and ExportACL.
	granted := map[string]bool{"admin DescribeACLUsers": true, "admin ExportACL": true}
	for where, text := range rec.out {
		for name, v := range secrets {
			if !strings.Contains(text, v) {
				continue
			}
			if granted[where] && strings.HasPrefix(name, "SHA-256 of ") {
				continue
			}
			t.Errorf("%s holds %s (%q)", where, name, excerpt(text, v))
		}
	}
}

// consoleSession logs in to the console with form and fetches its pages and the calls its Activity
// and instance pages make, recording everything.
func consoleSession(t *testing.T, rec *recorder, endpoint, who string, form url.Values, inst string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute} // the password login runs PBKDF2: slow under -race
	post := func(path string, form url.Values, header map[string]string) string {
		req, _ := http.NewRequest("POST", endpoint+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", endpoint)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		rec.add(who+" POST "+path, string(b))
		return string(b)
	}
	post("/console/login", form, nil)
	page := rec.get(who+" page", hc, endpoint+"/console/")
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("%s: no console page after login:\n%s", who, page)
	}
	for _, asset := range []string{"static/app.js", "login"} {
		rec.get(who+" "+asset, hc, endpoint+"/console/"+asset)
	}
	for _, action := range []string{"DescribeAuditLogs", "DescribeInstanceAttribute", "DescribeRefusedConnections", "DescribeACLUsers", "DescribeParameters"} {
		body := post("/console/api", url.Values{"Action": {action}, "Version": {"2015-01-01"}, "InstanceId": {inst}, "DBInstanceId": {inst}, "PageSize": {"50"}},
			map[string]string{"X-CSRF-Token": m[1]})
		if strings.Contains(body, `"Code"`) {
			t.Fatalf("%s: %s through the console: %s", who, action, body)
		}
	}
}

// excerpt shows where v is in text, masked, so that a failure does not print the secret itself.
func excerpt(text, v string) string {
	i := strings.Index(text, v)
	lo, hi := max(0, i-60), min(len(text), i+len(v)+60)
	return strings.ReplaceAll(text[lo:hi], v, "<SECRET>")
}
