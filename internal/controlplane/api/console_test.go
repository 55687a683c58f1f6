package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/api"
)

// refuse dials the instance from src and reads the refusal.
func refuse(t *testing.T, addr, src string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); string(b) != "-ERR illegal address\r\n" {
		t.Fatalf("client from %s read %q, want the refusal", src, b)
	}
}

// API3: DescribeRefusedConnections reports who was refused, why and how often, with refusals per
// minute, under the same policy as every instance action.
func TestDescribeRefusedConnections(t *testing.T) {
	m := startMoat(t)
	refuse(t, m.listen, "127.0.0.9")
	refuse(t, m.listen, "127.0.0.9")
	refuse(t, m.listen, "127.0.0.10")

	out := m.commonJSON(m.common("DescribeRefusedConnections", map[string]string{"InstanceId": m.inst})) // as the SDK sends it
	list := out["RefusedConnections"].(map[string]any)["RefusedConnection"].([]any)
	got := map[string]float64{}
	for _, x := range list {
		r := x.(map[string]any)
		if r["Reason"] != "illegal_address" || r["FirstSeen"] == "" || r["LastSeen"] == "" {
			t.Errorf("refusal %v", r)
		}
		got[r["Address"].(string)] = r["Count"].(float64)
	}
	if len(got) != 2 || got["127.0.0.9"] != 2 || got["127.0.0.10"] != 1 {
		t.Errorf("refusals %v, want 127.0.0.9 twice and 127.0.0.10 once", got)
	}
	if out["TotalRefused"].(float64) != 3 {
		t.Errorf("TotalRefused = %v, want 3", out["TotalRefused"])
	}
	tl := out["Timeline"].(map[string]any)
	counts := tl["Counts"].([]any)
	var sum float64
	for _, n := range counts {
		sum += n.(float64)
	}
	if len(counts) != 60 || sum != 3 || tl["BucketSeconds"].(float64) != 60 {
		t.Errorf("timeline %v: want 60 one-minute buckets holding 3 refusals", tl)
	}
	if _, err := time.Parse(time.RFC3339, tl["Start"].(string)); err != nil {
		t.Errorf("timeline start %q: %v", tl["Start"], err)
	}

	if status, out := m.call("DescribeRefusedConnections", map[string]string{"InstanceId": "r-nosuch"}); status != 404 || out["Code"] != "InvalidInstanceId.NotFound" {
		t.Errorf("unknown instance: %d %v", status, out)
	}
	if status, out := m.call("DescribeRefusedConnections", nil); status != 400 || out["Code"] != "MissingParameter" {
		t.Errorf("no instance: %d %v", status, out)
	}
	k, err := m.srv.Plane().CreateKey(controlplane.Actor{KeyID: "test"}, "other", []string{"Describe*"}, []string{"r-other"})
	if err != nil {
		t.Fatal(err)
	}
	status, body := m.do("DescribeRefusedConnections", rawRequest{Params: url.Values{"InstanceId": {m.inst}}, KeyID: k.ID, Secret: k.Secret})
	wantErrorJSON(t, status, body, http.StatusForbidden, "Forbidden.RAM")
}

// The console's in-process path: a request whose context carries an authenticated caller needs no
// signature and is then the same call: same policy, validation, audit. Nothing from the network can
// set that context: an unsigned request over HTTP is refused.
func TestCallsAsAuthenticatedCaller(t *testing.T) {
	m := startMoat(t)
	h := api.New(m.srv.Plane(), m.srv, slog.New(slog.DiscardHandler))
	serve := func(ctx context.Context, params url.Values) (int, []byte) {
		params.Set("Version", api.VersionKVStore)
		r := httptest.NewRequest("POST", "/", strings.NewReader(params.Encode())).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.7:51000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.Bytes()
	}
	modify := url.Values{"Action": {"ModifySecurityIps"}, "InstanceId": {m.inst}, "SecurityIpGroupName": {"app"}, "SecurityIps": {"10.1.0.0/16"}}

	// An access key, looked up at every call.
	if status, body := serve(api.AsKey(context.Background(), m.keyID), modify); status != 200 {
		t.Fatalf("as the admin key: %d %s", status, body)
	}
	last, _ := m.srv.Plane().AuditLog(controlplane.AuditFilter{Limit: 1})
	if last[0].KeyID != m.keyID || last[0].Source != "192.0.2.7" || last[0].Action != "ModifySecurityIps" {
		t.Errorf("audit entry %+v: want the key and the browser's address", last[0])
	}
	status, body := serve(api.AsKey(context.Background(), "MOATNOSUCHKEY"), modify)
	wantErrorJSON(t, status, body, http.StatusNotFound, "InvalidAccessKeyId.NotFound")

	// A principal that is not a stored key, with its own policy.
	ro := api.AsPrincipal(context.Background(), controlplane.AccessKey{ID: "console-password", Actions: []string{"Describe*"}, Instances: []string{"*"}})
	if status, body := serve(ro, url.Values{"Action": {"DescribeSecurityIps"}, "InstanceId": {m.inst}}); status != 200 {
		t.Errorf("principal describe: %d %s", status, body)
	}
	status, body = serve(ro, modify)
	wantErrorJSON(t, status, body, http.StatusForbidden, "Forbidden.RAM")
	failed, _, _ := m.srv.Plane().FailedCalls(controlplane.AuditFilter{Limit: 1})
	if len(failed) != 1 || failed[0].KeyID != "console-password" || failed[0].Result != controlplane.ResultDenied {
		t.Errorf("denied principal call audited as %+v", failed)
	}
	bad := url.Values{"Action": {"ModifySecurityIps"}, "InstanceId": {m.inst}, "SecurityIpGroupName": {"Bad-Name"}, "SecurityIps": {"10.0.0.1"}}
	status, body = serve(api.AsKey(context.Background(), m.keyID), bad)
	wantErrorJSON(t, status, body, http.StatusBadRequest, "InvalidGroupName.Format")

	// Without the context the handler wants a signature, and over the network there is no context.
	status, body = serve(context.Background(), modify)
	if status < 400 {
		t.Errorf("unsigned call without a caller: %d %s", status, body)
	}
	res, err := http.Post("http://"+m.api+"/", "application/x-www-form-urlencoded", strings.NewReader(modify.Encode()+"&Version="+api.VersionKVStore))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 {
		t.Errorf("unsigned call over HTTP: %d", res.StatusCode)
	}
}

// A console session spends its key's call rate as the key's signed calls do: a key allowed to change a
// whitelist cannot flood changes (and change records) through the console faster than over the API.
func TestConsoleCallsSpendTheKeysRate(t *testing.T) {
	m := startMoat(t)
	h := api.NewWithLimits(m.srv.Plane(), m.srv, slog.New(slog.DiscardHandler), api.Limits{KeyRate: 0.001, KeyBurst: 5})
	ctx := api.AsKey(context.Background(), m.keyID)
	codes := map[int]int{}
	for i := range 8 {
		params := url.Values{"Action": {"ModifySecurityIps"}, "InstanceId": {m.inst}, "SecurityIpGroupName": {"app"},
			"SecurityIps": {"10.1.0." + strconv.Itoa(i)}, "Version": {api.VersionKVStore}}
		r := httptest.NewRequest("POST", "/", strings.NewReader(params.Encode())).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.7:51000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes[w.Code]++
		if w.Code != 200 {
			wantErrorJSON(t, w.Code, w.Body.Bytes(), http.StatusBadRequest, "Throttling.User")
		}
	}
	if codes[200] != 5 || codes[400] != 3 {
		t.Errorf("8 console calls at burst 5: %v", codes)
	}
}

// A console call giving a parameter twice is refused as a signed call is, not served with the first
// value.
func TestConsoleCallsRefuseDuplicateParameters(t *testing.T) {
	m := startMoat(t)
	h := api.New(m.srv.Plane(), m.srv, slog.New(slog.DiscardHandler))
	for _, raw := range []string{
		"Action=DescribeInstances&Action=DeleteInstance&InstanceId=" + m.inst,
		"Action=DeleteInstance&InstanceId=" + m.inst + "&InstanceId=r-other",
	} {
		r := httptest.NewRequest("POST", "/?Version="+api.VersionKVStore, strings.NewReader(raw)).WithContext(api.AsKey(context.Background(), m.keyID))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "192.0.2.7:51000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		wantErrorJSON(t, w.Code, w.Body.Bytes(), http.StatusBadRequest, "InvalidParameter.Duplicate")
	}
	if status, out := m.call("DescribeInstanceAttribute", map[string]string{"InstanceId": m.inst}); status != 200 {
		t.Fatalf("the instance after the refused calls: HTTP %d %v", status, out)
	}
}
