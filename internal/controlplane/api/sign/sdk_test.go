package sign

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// seen is what the test server saw of one request.
type seen struct {
	verified Verified
	err      error
	method   string
	rawQuery string
	query    url.Values
	form     url.Values
	header   http.Header
	body     string
}

// sdkServer runs Verify on every request, as moat's API will, and answers like Alibaba: JSON with
// RequestId, and on refusal the error's status with {RequestId, HostId, Code, Message, Recommend}.
type sdkServer struct {
	*httptest.Server
	v    *Verifier
	mu   sync.Mutex
	seen []seen
}

func newSDKServer(t *testing.T) *sdkServer {
	s := &sdkServer{v: NewVerifier(keys(map[string]string{testID: testSecret}))}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *sdkServer) serve(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	rec := seen{method: hr.Method, rawQuery: hr.URL.RawQuery, header: hr.Header.Clone(), body: string(body)}
	r, err := FromHTTP(hr, body)
	if err == nil {
		rec.query, rec.form = r.Query, r.Form
		rec.verified, err = s.v.Verify(r)
	}
	rec.err = err
	s.mu.Lock()
	s.seen = append(s.seen, rec)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var e *Error
		errors.As(err, &e)
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"RequestId": "E0C4A6B2-0000-4000-8000-000000000000", "HostId": hr.Host,
			"Code": e.Code, "Message": e.Message, "Recommend": "",
		})
		return
	}
	action := r.Query.Get("Action")
	if action == "" {
		action = r.Form.Get("Action")
	}
	resp := map[string]any{"RequestId": "A1B2C3D4-0000-4000-8000-000000000000", "Action": action}
	if action == "DescribeSecurityIps" {
		resp["SecurityIpGroups"] = map[string]any{"SecurityIpGroup": []map[string]string{
			{"SecurityIpGroupName": "default", "SecurityIpGroupAttribute": "", "SecurityIpList": "127.0.0.1,10.0.0.0/8"},
		}}
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *sdkServer) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return s.seen[len(s.seen)-1]
}

func (s *sdkServer) host() string { return strings.TrimPrefix(s.URL, "http://") }

func sdkClient(t *testing.T, id, secret string) *r_kvstore.Client {
	t.Helper()
	c, err := r_kvstore.NewClientWithAccessKey("cn-hangzhou", id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *sdkServer) commonRequest(method, action string) *requests.CommonRequest {
	req := requests.NewCommonRequest() // Method defaults to GET
	if method != "" {
		req.Method = method
	}
	req.Product = "R-kvstore"
	req.Version = "2015-01-01"
	req.ApiName = action
	req.Domain = s.host()
	req.Scheme = "http"
	return req
}

func wantVerifiedV1(t *testing.T, got seen) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("server refused the SDK's request: %v\n%s %s", got.err, got.method, got.rawQuery)
	}
	if got.verified.AccessKeyID != testID || got.verified.Version != 1 || got.verified.Nonce == "" {
		t.Fatalf("Verified = %+v", got.verified)
	}
}

// wantServerError asserts the SDK surfaced our refusal as a ServerError with this code and status.
func wantServerError(t *testing.T, err error, code string, status int) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("got %v (%T), want a ServerError %s", err, err, code)
	}
	if se.ErrorCode() != code || se.HttpStatus() != status {
		t.Fatalf("got %s (HTTP %d) %q, want %s (HTTP %d)", se.ErrorCode(), se.HttpStatus(), se.Message(), code, status)
	}
	return se
}

// The SDK sees a wrong secret as such (rather than an SDK bug) only if our string to sign equals its own.
const sdkWrongSecretRecommend = "InvalidAccessKeySecret: Please check you AccessKeySecret"

func TestSDKv1TypedDescribeSecurityIps(t *testing.T) {
	s := newSDKServer(t)
	req := r_kvstore.CreateDescribeSecurityIpsRequest()
	req.Domain = s.host()
	req.Scheme = "http"
	req.InstanceId = "r-bp1zxszhcgatnx****"
	resp, err := sdkClient(t, testID, testSecret).DescribeSecurityIps(req)
	if err != nil {
		t.Fatalf("DescribeSecurityIps: %v", err)
	}
	got := s.last(t)
	wantVerifiedV1(t, got)
	if g := resp.SecurityIpGroups.SecurityIpGroup; len(g) != 1 || g[0].SecurityIpList != "127.0.0.1,10.0.0.0/8" {
		t.Fatalf("response groups %+v", resp.SecurityIpGroups)
	}
	if got.method != "POST" || got.query.Get("Action") != "DescribeSecurityIps" || got.query.Get("InstanceId") != "r-bp1zxszhcgatnx****" ||
		got.query.Get("RegionId") != "cn-hangzhou" || !got.query.Has("SignatureType") || got.body != "" {
		t.Fatalf("SDK sent %s ?%s body %q", got.method, got.rawQuery, got.body)
	}

	// The same call with a wrong secret is refused, and the SDK recognises its own string to sign.
	req = r_kvstore.CreateDescribeSecurityIpsRequest()
	req.Domain, req.Scheme, req.InstanceId = s.host(), "http", "r-1"
	_, err = sdkClient(t, testID, "not-the-secret").DescribeSecurityIps(req)
	se := wantServerError(t, err, CodeSignatureDoesNotMatch, 400)
	if se.Recommend() != sdkWrongSecretRecommend {
		t.Fatalf("Recommend %q: the SDK's string to sign differs from ours; message %q", se.Recommend(), se.Message())
	}

	// An unknown key.
	req = r_kvstore.CreateDescribeSecurityIpsRequest()
	req.Domain, req.Scheme, req.InstanceId = s.host(), "http", "r-1"
	_, err = sdkClient(t, "LTAI-unknown", testSecret).DescribeSecurityIps(req)
	se = wantServerError(t, err, CodeAccessKeyNotFound, 404)
	if se.Message() != "Specified access key is not found." {
		t.Fatalf("message %q", se.Message())
	}
}

func TestSDKv1TypedModifySecurityIps(t *testing.T) {
	s := newSDKServer(t)
	req := r_kvstore.CreateModifySecurityIpsRequest()
	req.Domain, req.Scheme = s.host(), "http"
	req.InstanceId = "r-bp1zxszhcgatnx****"
	req.SecurityIps = "10.0.0.1,192.168.0.0/24"
	req.SecurityIpGroupName = "app"
	req.SecurityIpGroupAttribute = "web tier ~ é*" // space, tilde, UTF-8, star
	req.ModifyMode = "Append"
	if _, err := sdkClient(t, testID, testSecret).ModifySecurityIps(req); err != nil {
		t.Fatalf("ModifySecurityIps: %v", err)
	}
	got := s.last(t)
	wantVerifiedV1(t, got)
	if !strings.Contains(got.rawQuery, "SecurityIpGroupAttribute=web+tier+~+%C3%A9%2A") {
		t.Fatalf("SDK encoding changed (expected '+' for space): %s", got.rawQuery)
	}
	if got.query.Get("SecurityIpGroupAttribute") != "web tier ~ é*" {
		t.Fatalf("decoded %q", got.query.Get("SecurityIpGroupAttribute"))
	}
}

func TestSDKv1CommonRequestQueryParams(t *testing.T) {
	s := newSDKServer(t)
	req := s.commonRequest("POST", "AuthorizeSecurityGroup")
	req.Version = "2014-05-26"
	req.Product = "Ecs"
	req.QueryParams["SecurityGroupId"] = "sg-bp67acfmxazb4p****"
	req.QueryParams["Permissions.1.Description"] = "redis access"
	req.QueryParams["Permissions.1.PortRange"] = "6379/6379"
	req.QueryParams["Permissions.1.SourceCidrIp"] = "10.0.0.0/8"
	req.QueryParams["Empty"] = ""
	resp, err := sdkClient(t, testID, testSecret).ProcessCommonRequest(req)
	if err != nil {
		t.Fatalf("ProcessCommonRequest: %v", err)
	}
	got := s.last(t)
	wantVerifiedV1(t, got)
	if !strings.Contains(got.rawQuery, "Permissions.1.Description=redis+access") {
		t.Fatalf("expected '+' for space on the wire: %s", got.rawQuery)
	}
	if !strings.Contains(resp.GetHttpContentString(), `"Action":"AuthorizeSecurityGroup"`) {
		t.Fatalf("response %s", resp.GetHttpContentString())
	}

	// GET, the CommonRequest default.
	req = s.commonRequest("", "DescribeSecurityGroupConfiguration")
	req.QueryParams["InstanceId"] = "r-1"
	if _, err := sdkClient(t, testID, testSecret).ProcessCommonRequest(req); err != nil {
		t.Fatalf("GET ProcessCommonRequest: %v", err)
	}
	got = s.last(t)
	wantVerifiedV1(t, got)
	if got.method != "GET" {
		t.Fatalf("method %s", got.method)
	}

	// Wrong secret.
	req = s.commonRequest("POST", "DescribeSecurityGroupConfiguration")
	req.QueryParams["InstanceId"] = "r-1 *"
	_, err = sdkClient(t, testID, "nope").ProcessCommonRequest(req)
	if se := wantServerError(t, err, CodeSignatureDoesNotMatch, 400); se.Recommend() != sdkWrongSecretRecommend {
		t.Fatalf("Recommend %q", se.Recommend())
	}
}

func TestSDKv1CommonRequestFormParams(t *testing.T) {
	s := newSDKServer(t)
	call := func(method, secret string) (*responses.CommonResponse, error) {
		req := s.commonRequest(method, "ModifySecurityGroupConfiguration")
		req.FormParams["DBInstanceId"] = "r-bp1zxszhcgatnx****"
		req.FormParams["SecurityGroupId"] = "sg-a,sg-b"
		req.FormParams["Note"] = "two groups ~ é"
		return sdkClient(t, testID, secret).ProcessCommonRequest(req)
	}
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			if _, err := call(method, testSecret); err != nil {
				t.Fatalf("ProcessCommonRequest: %v", err)
			}
			got := s.last(t)
			wantVerifiedV1(t, got)
			if got.method != method || got.form.Get("SecurityGroupId") != "sg-a,sg-b" || got.form.Get("Note") != "two groups ~ é" ||
				got.query.Has("SecurityGroupId") || !got.query.Has("Signature") {
				t.Fatalf("SDK sent %s ?%s body %q", got.method, got.rawQuery, got.body)
			}
			_, err := call(method, "nope")
			if se := wantServerError(t, err, CodeSignatureDoesNotMatch, 400); se.Recommend() != sdkWrongSecretRecommend {
				t.Fatalf("Recommend %q", se.Recommend())
			}
		})
	}
}
