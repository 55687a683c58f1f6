package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/controlplane/api"
	"github.com/moat-dev/moat/internal/controlplane/api/sign"
	"github.com/moat-dev/moat/internal/etcdtest"
)

// While etcd has no quorum, reads through the official SDK are answered from what an etcd member still
// holds, marked stale (X-Moat-State-Age, Warning 110); a change is refused with 503. Once etcd is back,
// everything works, a signed change replayed to another gateway is still refused, and so is a read signed
// during the outage (its nonce, kept in memory then, is recorded once the store is back).
func TestFleetReadsDuringEtcdOutage(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	f := startFleet(t, 2, c.Endpoints())
	id := f.instance(t)
	sdk, err := r_kvstore.NewClientWithAccessKey("cn-hangzhou", f.admin.KeyID, f.admin.Secret)
	if err != nil {
		t.Fatal(err)
	}
	describe := func(gw int) (*r_kvstore.DescribeSecurityIpsResponse, error) {
		req := r_kvstore.CreateDescribeSecurityIpsRequest()
		req.SetDomain(f.gws[gw].APIAddr().String())
		req.SetScheme("http")
		req.InstanceId = id
		return sdk.DescribeSecurityIps(req)
	}
	modify := func(gw int, ips string) error {
		req := r_kvstore.CreateModifySecurityIpsRequest()
		req.SetDomain(f.gws[gw].APIAddr().String())
		req.SetScheme("http")
		req.InstanceId, req.SecurityIpGroupName, req.ModifyMode, req.SecurityIps = id, "app", "Append", ips
		_, err := sdk.ModifySecurityIps(req)
		return err
	}
	groupHas := func(resp *r_kvstore.DescribeSecurityIpsResponse, ip string) bool {
		for _, g := range resp.SecurityIpGroups.SecurityIpGroup {
			if g.SecurityIpGroupName == "app" && strings.Contains(g.SecurityIpList, ip) {
				return true
			}
		}
		return false
	}
	if err := modify(0, "127.0.0.9"); err != nil {
		t.Fatal(err)
	}
	write := f.signed(t, "ModifySecurityIps", url.Values{"InstanceId": {id}, "SecurityIpGroupName": {"app"},
		"SecurityIps": {"127.0.0.20"}, "ModifyMode": {"Append"}})
	if code, body := write.send(t, f.gws[0]); code != 200 {
		t.Fatalf("a signed change before the outage: %d %s", code, body)
	}

	c.Stop(0)
	c.Stop(1)
	for i := range f.gws {
		eventually(t, fmt.Sprintf("gateway %d reports the outage", i+1), func() bool {
			_, body := readyz(t, f.gws[i])
			return strings.Contains(body, "state store unavailable")
		})
	}
	for i := range f.gws {
		resp, err := describe(i)
		if err != nil {
			t.Fatalf("gateway %d: DescribeSecurityIps without quorum: %v", i+1, err)
		}
		if !groupHas(resp, "127.0.0.9") || !groupHas(resp, "127.0.0.20") {
			t.Fatalf("gateway %d: a stale read lacks what was committed before the outage: %+v", i+1, resp.SecurityIpGroups)
		}
		h := resp.GetHttpHeaders()
		if len(h[StateAgeHeader]) != 1 || len(h["Warning"]) != 1 || h["Warning"][0] != `110 - "Response is Stale"` {
			t.Fatalf("gateway %d: a read without quorum is not marked stale: %v", i+1, h)
		}
	}
	var se *sdkerrors.ServerError
	if err := modify(1, "127.0.0.11"); !errors.As(err, &se) || se.HttpStatus() != 503 || !strings.HasPrefix(se.ErrorCode(), "ServiceUnavailable") {
		t.Fatalf("a change without quorum: %v, want 503 ServiceUnavailable", err)
	}
	read := f.signed(t, "DescribeInstances", url.Values{})
	if code, body := read.send(t, f.gws[1]); code != 200 {
		t.Fatalf("a signed read without quorum: %d %s", code, body)
	}
	if code, _ := read.send(t, f.gws[1]); code != 400 {
		t.Fatalf("a read replayed to the same gateway during the outage: %d, want 400 (its nonce is in memory)", code)
	}

	c.Start(0)
	c.Start(1)
	eventually(t, "a change is taken again once etcd has its quorum", func() bool { return modify(1, "127.0.0.11") == nil })
	resp, err := describe(0)
	if err != nil || !groupHas(resp, "127.0.0.11") {
		t.Fatalf("after the outage: %v %+v", err, resp)
	}
	if age := resp.GetHttpHeaders()[StateAgeHeader]; len(age) != 0 {
		t.Fatalf("a read after the outage is marked %v s stale", age)
	}
	if code, body := write.send(t, f.gws[1]); code != 400 || !strings.Contains(body, "SignatureNonceUsed") {
		t.Fatalf("a change signed before the outage, replayed to another gateway after it: %d %s", code, body)
	}
	if code, body := read.send(t, f.gws[0]); code != 400 || !strings.Contains(body, "SignatureNonceUsed") {
		t.Fatalf("a read signed during the outage, replayed to another gateway after it: %d %s", code, body)
	}
}

// signedCall is a V1-signed API call, sent as recorded (to replay it).
type signedCall struct{ query string }

// signed signs action with the administrator key once (a fresh nonce, the time now).
func (f *fleet) signed(t *testing.T, action string, params url.Values) signedCall {
	t.Helper()
	params.Set("Action", action)
	params.Set("Version", api.VersionKVStore)
	sign.SignV1(http.MethodGet, params, f.admin.KeyID, f.admin.Secret, time.Time{}, "")
	return signedCall{params.Encode()}
}

// send sends the call to gateway s's API and returns the status and body.
func (c signedCall) send(t *testing.T, s *Server) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + s.APIAddr().String() + "/?" + c.query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
