package sign

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Worked example 1 (Alibaba's docs): GET DescribeRegions with testid/testsecret.
func TestWorkedExample1V1Docs(t *testing.T) {
	params := url.Values{
		"AccessKeyId":      {"testid"},
		"Action":           {"DescribeRegions"},
		"Format":           {"XML"},
		"SignatureMethod":  {"HMAC-SHA1"},
		"SignatureNonce":   {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
		"SignatureVersion": {"1.0"},
		"Timestamp":        {"2016-02-23T12:46:24Z"},
		"Version":          {"2014-05-26"},
	}
	const wantSTS = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	const wantSig = "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
	if got := StringToSignV1("GET", params); got != wantSTS {
		t.Fatalf("string to sign\n got %s\nwant %s", got, wantSTS)
	}
	if got := signatureV1(wantSTS, "testsecret"); got != wantSig {
		t.Fatalf("signature %s, want %s", got, wantSig)
	}

	// SignV1 with the same inputs reproduces it (Format given, so kept).
	p := url.Values{"Action": {"DescribeRegions"}, "Format": {"XML"}, "Version": {"2014-05-26"}}
	SignV1("GET", p, "testid", "testsecret", time.Date(2016, 2, 23, 12, 46, 24, 0, time.UTC), "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf")
	if p.Get("Signature") != wantSig {
		t.Fatalf("SignV1 signature %s, want %s", p.Get("Signature"), wantSig)
	}

	// And the verifier accepts it on the wire at that time.
	v, c := newVerifier()
	c.Set(time.Date(2016, 2, 23, 12, 50, 0, 0, time.UTC))
	params.Set("Signature", wantSig)
	got := mustVerify(t, v, v1Wire(t, "GET", params, nil))
	if got.AccessKeyID != "testid" || got.Version != 1 || got.Nonce != "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" ||
		!got.Time.Equal(time.Date(2016, 2, 23, 12, 46, 24, 0, time.UTC)) {
		t.Fatalf("Verified = %+v", got)
	}
}

// Worked example 2: the raw request SDK-v1 sent for DescribeSecurityIps, verified from its exact URL.
func TestWorkedExample2V1SDKCapture(t *testing.T) {
	const rawURL = "/?AccessKeyId=testid&Action=DescribeSecurityIps&Format=JSON&InstanceId=r-bp1zxszhcgatnx%2A%2A%2A%2A&RegionId=cn-hangzhou&Signature=mmRQKmypmI0zxFCzfb7P1%2BJbeSk%3D&SignatureMethod=HMAC-SHA1&SignatureNonce=c782cb101c3e2e9af4d3a5a845b29888&SignatureType=&SignatureVersion=1.0&Timestamp=2026-11-21T12%3A01%3A43Z&Version=2015-01-01"
	const wantSTS = "POST&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeSecurityIps%26Format%3DJSON%26InstanceId%3Dr-bp1zxszhcgatnx%252A%252A%252A%252A%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3Dc782cb101c3e2e9af4d3a5a845b29888%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2026-11-21T12%253A01%253A43Z%26Version%3D2015-01-01"
	const wantSig = "mmRQKmypmI0zxFCzfb7P1+JbeSk="

	hr := httptest.NewRequest("POST", rawURL, nil)
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("X-Acs-Action", "DescribeSecurityIps") // SDK-v1 sends these too; V1 ignores them
	hr.Header.Set("X-Acs-Version", "2015-01-01")
	r := wire(t, hr, nil)
	if got := StringToSignV1("POST", r.Query); got != wantSTS {
		t.Fatalf("string to sign\n got %s\nwant %s", got, wantSTS)
	}
	if got := signatureV1(wantSTS, "testsecret"); got != wantSig {
		t.Fatalf("signature %s, want %s", got, wantSig)
	}
	v, c := newVerifier()
	c.Set(time.Date(2026, 11, 21, 12, 1, 43, 0, time.UTC))
	if got := mustVerify(t, v, r); got.Version != 1 || got.Nonce != "c782cb101c3e2e9af4d3a5a845b29888" {
		t.Fatalf("Verified = %+v", got)
	}
	// The empty SignatureType is part of the signed string: dropping it breaks the signature.
	r2 := wire(t, httptest.NewRequest("POST", strings.Replace(rawURL, "&SignatureType=", "", 1), nil), nil)
	v2, c2 := newVerifier()
	c2.Set(c.Now())
	_, err := v2.Verify(r2)
	wantError(t, err, CodeSignatureDoesNotMatch, 400)
}

// Worked example 3: a V3 ModifySecurityIps (Append) captured from darabonba-openapi.
func TestWorkedExample3V3(t *testing.T) {
	const wantCanonical = "POST\n/\n" +
		"InstanceId=r-bp1zxszhcgatnx%2A%2A%2A%2A&ModifyMode=Append&SecurityIpGroupName=app&SecurityIps=10.0.0.1%2C192.168.0.0%2F24\n" +
		"host:127.0.0.1:39089\n" +
		"x-acs-action:ModifySecurityIps\n" +
		"x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"x-acs-credentials-provider:static_ak\n" +
		"x-acs-date:2026-11-21T12:04:00Z\n" +
		"x-acs-signature-nonce:f6f663a0391d36b1c02e8e11c4571619\n" +
		"x-acs-version:2015-01-01\n" +
		"\n" +
		"host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	const wantSTS = "ACS3-HMAC-SHA256\n92693b281efcbaec1309befef774e9ce6345a75227880fc3ee5919d70e0c7c14"
	const wantSig = "bfa15dc7ecddac152f8f470d05ee172a257460dab059acc66ff336ff4d32e88a"
	const signed = "host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version"

	hr := httptest.NewRequest("POST", "http://127.0.0.1:39089/?InstanceId=r-bp1zxszhcgatnx%2A%2A%2A%2A&ModifyMode=Append&SecurityIpGroupName=app&SecurityIps=10.0.0.1%2C192.168.0.0%2F24", nil)
	hr.Header.Set("x-acs-action", "ModifySecurityIps")
	hr.Header.Set("x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	hr.Header.Set("x-acs-credentials-provider", "static_ak")
	hr.Header.Set("x-acs-date", "2026-11-21T12:04:00Z")
	hr.Header.Set("x-acs-signature-nonce", "f6f663a0391d36b1c02e8e11c4571619")
	hr.Header.Set("x-acs-version", "2015-01-01")
	hr.Header.Set("User-Agent", "AlibabaCloud (linux; amd64) Golang/1.26.8 Core/0.01 TeaDSL/2")
	hr.Header.Set("Authorization", "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders="+signed+",Signature="+wantSig)
	r := wire(t, hr, nil)

	cr := CanonicalRequestV3(r, strings.Split(signed, ";"))
	if cr != wantCanonical {
		t.Fatalf("canonical request\n got %q\nwant %q", cr, wantCanonical)
	}
	if got := stringToSignV3(cr); got != wantSTS {
		t.Fatalf("string to sign %q, want %q", got, wantSTS)
	}
	if got := string(hexOf(signatureV3(wantSTS, "testsecret"))); got != wantSig {
		t.Fatalf("signature %s, want %s", got, wantSig)
	}
	v, c := newVerifier()
	c.Set(time.Date(2026, 11, 21, 12, 4, 0, 0, time.UTC))
	got := mustVerify(t, v, r)
	if got.AccessKeyID != "testid" || got.Version != 3 || got.Nonce != "f6f663a0391d36b1c02e8e11c4571619" ||
		!got.Time.Equal(time.Date(2026, 11, 21, 12, 4, 0, 0, time.UTC)) {
		t.Fatalf("Verified = %+v", got)
	}
	// The oracle signer (darabonba's algorithm) produces the same canonical request and signature.
	hr2 := hr.Clone(hr.Context())
	hr2.Header.Del("User-Agent")
	if oc := v3Oracle(hr2, nil, "testid", "testsecret"); oc != wantCanonical {
		t.Fatalf("oracle canonical request differs:\n%q", oc)
	}
	if !strings.HasSuffix(hr2.Header.Get("Authorization"), "Signature="+wantSig) {
		t.Fatalf("oracle Authorization %q", hr2.Header.Get("Authorization"))
	}
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}
