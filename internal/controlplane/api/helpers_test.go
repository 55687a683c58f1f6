package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/server"
)

// moat is one real moat running in the test process: its API, the administrator key it wrote on first
// start, and the default instance it serves.
type moat struct {
	t      *testing.T
	dir    string // data directory, kept across restarts
	srv    *server.Server
	api    string // host:port of the API listener
	keyID  string // administrator key
	secret string
	inst   string    // the default instance's ID
	listen string    // the default instance's address
	logw   io.Writer // where moat logs (nil: nowhere)
	limits api.Limits
	tune   func(*server.Options) // adjusts the options of every start (nil: none)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startMoat starts a moat on a new data directory; it is closed when the test ends.
func startMoat(t *testing.T) *moat {
	t.Helper()
	m := &moat{t: t, dir: t.TempDir()}
	m.start()
	t.Cleanup(m.stop)
	return m
}

// startMoatWith is startMoat with the API's budgets set to lim.
func startMoatWith(t *testing.T, lim api.Limits) *moat {
	t.Helper()
	m := &moat{t: t, dir: t.TempDir(), limits: lim}
	m.start()
	t.Cleanup(m.stop)
	return m
}

// start starts (or restarts) moat on m.dir. The default instance listens on a port the system picks
// (other tests on this machine take ports too), which m.listen records.
func (m *moat) start() {
	m.t.Helper()
	log := quiet()
	if m.logw != nil {
		log = slog.New(slog.NewTextHandler(m.logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// The in-process engine, named, so that these tests need no redis-server process per instance; the
	// default, a managed redis-server, has its tests in package server.
	opts := server.Options{DataDir: m.dir, Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0", Log: log, Banner: io.Discard, APILimits: m.limits,
		Backend: "embedded"}
	if m.tune != nil {
		m.tune(&opts)
	}
	srv, err := server.Start(opts)
	if err != nil {
		m.t.Fatal(err)
	}
	m.srv = srv
	m.api = srv.APIAddr().String()
	b, err := os.ReadFile(filepath.Join(m.dir, server.AdminKeyFile))
	if err != nil {
		m.t.Fatal(err)
	}
	var p server.Profile
	if err := json.Unmarshal(b, &p); err != nil || p.AccessKeyId == "" || p.AccessKeySecret == "" {
		m.t.Fatalf("admin key file %s: %v %q", server.AdminKeyFile, err, b)
	}
	m.keyID, m.secret = p.AccessKeyId, p.AccessKeySecret
	insts, err := srv.Plane().Instances()
	if err != nil {
		m.t.Fatal(err)
	}
	for _, in := range insts {
		if in.Origin == model.OriginDefault {
			m.inst = in.ID
		}
	}
	if m.inst == "" {
		m.t.Fatalf("no default instance among %+v", insts)
	}
	m.listen = srv.Gateway(m.inst).Addrs()[0].String()
}

func (m *moat) stop() {
	if m.srv != nil {
		m.srv.Close()
		m.srv = nil
	}
}

// restart closes moat and starts it again on the same data directory.
func (m *moat) restart() {
	m.t.Helper()
	m.stop()
	m.start()
}

// client is an SDK client with the given key; requests still need at (the SDK knows no moat endpoint).
func (m *moat) client(id, secret string) *r_kvstore.Client {
	m.t.Helper()
	c, err := r_kvstore.NewClientWithAccessKey("cn-hangzhou", id, secret)
	if err != nil {
		m.t.Fatal(err)
	}
	return c
}

// admin is an SDK client with the administrator key.
func (m *moat) admin() *r_kvstore.Client { return m.client(m.keyID, m.secret) }

type endpoint interface {
	SetDomain(string)
	SetScheme(string)
}

// at points an SDK request at this moat over plain HTTP and returns it.
func at[R endpoint](m *moat, r R) R {
	r.SetDomain(m.api)
	r.SetScheme("http")
	return r
}

// common is an SDK CommonRequest for a moat action the SDK has no typed call for.
func (m *moat) common(action string, query map[string]string) *requests.CommonRequest {
	r := requests.NewCommonRequest()
	r.Product = "R-kvstore"
	r.Version = "2015-01-01"
	r.ApiName = action
	r.Domain = m.api
	r.Scheme = "http"
	for k, v := range query {
		r.QueryParams[k] = v
	}
	return r
}

// commonJSON sends a CommonRequest with the admin key and decodes its JSON body; it fails the test on an error.
func (m *moat) commonJSON(r *requests.CommonRequest) map[string]any {
	m.t.Helper()
	resp, err := m.admin().ProcessCommonRequest(r)
	if err != nil {
		m.t.Fatalf("%s: %v", r.ApiName, err)
	}
	var out map[string]any
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil {
		m.t.Fatalf("%s: %v in %s", r.ApiName, err, resp.GetHttpContentString())
	}
	return out
}

// serverError returns err as the SDK's ServerError, failing the test if it is not one.
func serverError(t *testing.T, err error) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("want an SDK ServerError, got %T %v", err, err)
	}
	return se
}

// wantSDKError checks an SDK call failed with the given HTTP status and code, and that the SDK read a
// message and a request ID from the error JSON.
func wantSDKError(t *testing.T, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	se := serverError(t, err)
	if se.HttpStatus() != status || se.ErrorCode() != code {
		t.Fatalf("got HTTP %d %s (%s), want HTTP %d %s", se.HttpStatus(), se.ErrorCode(), se.Message(), status, code)
	}
	if se.Message() == "" || se.RequestId() == "" {
		t.Fatalf("SDK error lacks Message or RequestId: %v", se)
	}
	return se
}

// rawRequest is a V1-signed call sent without the SDK.
type rawRequest struct {
	Method string     // GET or POST (default POST)
	Params url.Values // the action's parameters; Action and Version are added unless set
	Form   bool       // send the parameters as a form body instead of the query
	KeyID  string     // default: the administrator key
	Secret string
	Time   time.Time // signed Timestamp (zero: now)
	Nonce  string    // SignatureNonce (empty: a fresh one)
	Source string    // local IP address to call from (empty: any)
}

// do signs and sends req for action, returning the HTTP status and the raw body.
func (m *moat) do(action string, req rawRequest) (int, []byte) {
	m.t.Helper()
	params := url.Values{}
	for k, v := range req.Params {
		params[k] = append([]string(nil), v...)
	}
	if params.Get("Action") == "" {
		params.Set("Action", action)
	}
	if _, ok := params["Version"]; !ok {
		params.Set("Version", "2015-01-01")
	}
	if req.Method == "" {
		req.Method = http.MethodPost
	}
	if req.KeyID == "" {
		req.KeyID, req.Secret = m.keyID, m.secret
	}
	sign.SignV1(req.Method, params, req.KeyID, req.Secret, req.Time, req.Nonce)
	u := "http://" + m.api + "/"
	var body io.Reader
	if req.Form {
		body = strings.NewReader(params.Encode())
	} else {
		u += "?" + params.Encode()
	}
	hr, err := http.NewRequest(req.Method, u, body)
	if err != nil {
		m.t.Fatal(err)
	}
	if req.Form {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return m.send(hr, req.Source)
}

// send sends hr from the local address src ("" for any) and returns the status and body.
func (m *moat) send(hr *http.Request, src string) (int, []byte) {
	m.t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
	resp, err := hc.Do(hr)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// call is do with the administrator key and the parameters in the query; it decodes the JSON body.
func (m *moat) call(action string, params map[string]string) (int, map[string]any) {
	m.t.Helper()
	v := url.Values{}
	for k, s := range params {
		v.Set(k, s)
	}
	status, body := m.do(action, rawRequest{Params: v})
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		m.t.Fatalf("%s: HTTP %d, body is not JSON: %q", action, status, body)
	}
	return status, out
}

// mustCall is call that must succeed.
func (m *moat) mustCall(action string, params map[string]string) map[string]any {
	m.t.Helper()
	status, out := m.call(action, params)
	if status != http.StatusOK {
		m.t.Fatalf("%s %v: HTTP %d %v", action, params, status, out)
	}
	if s, _ := out["RequestId"].(string); s == "" {
		m.t.Fatalf("%s: response without RequestId: %v", action, out)
	}
	return out
}

// wantErrorJSON checks an error response: status, code, and the five string fields the SDKs read.
func wantErrorJSON(t *testing.T, status int, body []byte, wantStatus int, wantCode string) map[string]string {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	out := map[string]string{}
	for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
		s, ok := raw[k].(string)
		if !ok || s == "" {
			t.Errorf("error JSON field %s = %#v, want a non-empty string (body %s)", k, raw[k], body)
		}
		out[k] = s
	}
	if status != wantStatus || out["Code"] != wantCode {
		t.Fatalf("got HTTP %d %s (%s), want HTTP %d %s", status, out["Code"], out["Message"], wantStatus, wantCode)
	}
	return out
}

// ipGroup is one group of DescribeSecurityIps.
type ipGroup struct {
	SecurityIpGroupName      string
	SecurityIpGroupAttribute string
	SecurityIpList           string
}

// groups returns an instance's whitelist groups, as DescribeSecurityIps shows them.
func (m *moat) groups(inst string) []ipGroup {
	m.t.Helper()
	status, body := m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {inst}}})
	if status != http.StatusOK {
		m.t.Fatalf("DescribeSecurityIps %s: HTTP %d %s", inst, status, body)
	}
	var out struct {
		SecurityIpGroups struct{ SecurityIpGroup []ipGroup }
	}
	if err := json.Unmarshal(body, &out); err != nil {
		m.t.Fatal(err)
	}
	return out.SecurityIpGroups.SecurityIpGroup
}

// create creates an instance serving on a port the system picks and returns its address.
func (m *moat) create(id string) string {
	m.t.Helper()
	out := m.mustCall("CreateInstance", map[string]string{"InstanceId": id, "Listen": "127.0.0.1:0", "Backend": "embedded"})
	addrs, _ := out["ListenAddresses"].([]any)
	if out["InstanceId"] != id || len(addrs) != 1 || strings.HasSuffix(addrs[0].(string), ":0") {
		m.t.Fatalf("CreateInstance %s: %v", id, out)
	}
	return addrs[0].(string)
}

// modify is ModifySecurityIps with the administrator key; it must succeed.
func (m *moat) modify(inst, group, mode, ips string) {
	m.t.Helper()
	m.mustCall("ModifySecurityIps", map[string]string{"InstanceId": inst, "SecurityIpGroupName": group, "ModifyMode": mode, "SecurityIps": ips})
}

// redis connects to addr from the local address src, sends one inline command and returns the first
// reply (a bulk reply's payload; "dial error: …" if no connection could be made).
func redis(t *testing.T, addr, src, cmd string) string {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "dial error: " + err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "write error: " + err.Error()
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return "read error: " + err.Error()
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		body, _ := br.ReadString('\n')
		return strings.TrimSpace(body)
	}
	return strings.TrimSpace(line)
}

const illegal = "-ERR illegal address"

// modifyRequest is a typed ModifySecurityIps request (Cover) for the default instance, pointed at m.
func modifyRequest(m *moat, group, ips string) *r_kvstore.ModifySecurityIpsRequest {
	req := at(m, r_kvstore.CreateModifySecurityIpsRequest())
	req.InstanceId, req.SecurityIpGroupName, req.SecurityIps = m.inst, group, ips
	return req
}

// wantRefused sends action with params and checks the refusal: HTTP status, error code, a one-line
// message that mentions message. It returns the error JSON.
func (m *moat) wantRefused(t *testing.T, action string, params map[string]string, status int, code, message string) map[string]string {
	t.Helper()
	v := url.Values{}
	for k, s := range params {
		v.Set(k, s)
	}
	got, body := m.do(action, rawRequest{Params: v})
	e := wantErrorJSON(t, got, body, status, code)
	if !strings.Contains(e["Message"], message) {
		t.Errorf("message %q does not mention %q", e["Message"], message)
	}
	if strings.Contains(e["Message"], "\n") {
		t.Errorf("message spans lines: %q", e["Message"])
	}
	return e
}
