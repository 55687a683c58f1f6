package sign

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary queries, headers and bodies through FromHTTP and Verify: they never
// panic, every refusal is a well-formed *Error, and anything accepted really was signed with the key.
func FuzzVerify(f *testing.F) {
	v1 := signedV1("POST", describeParams(), testID, testSecret, t0, "seed-1").Encode()
	hr := v3HTTP("POST", v3Query, nil, "", t0, "seed-3")
	v3Oracle(hr, nil, testID, testSecret)
	body := []byte("InstanceId=r-1&SecurityIps=10.0.0.1")
	hf := v3HTTP("POST", "", body, "application/x-www-form-urlencoded", t0, "seed-f")
	v3Oracle(hf, body, testID, testSecret)

	f.Add("POST", v1, "", "", "", "", []byte(nil))
	f.Add("GET", v1+"&Signature=x", "", "", "", "", []byte(nil))
	f.Add("POST", "", "", "application/x-www-form-urlencoded", "", "", []byte(v1))
	f.Add("POST", v3Query, hr.Header.Get("Authorization"), "", hr.Header.Get("x-acs-date"), hr.Header.Get("x-acs-signature-nonce"), []byte(nil))
	f.Add("POST", "", hf.Header.Get("Authorization"), "application/x-www-form-urlencoded", hf.Header.Get("x-acs-date"), hf.Header.Get("x-acs-signature-nonce"), body)
	f.Add("POST", "a=%zz;b", "ACS3-HMAC-SHA256 Credential=,SignedHeaders=;;,Signature=", "text/plain", "2026-13-45T99:99:99Z", "", []byte{0xff})
	f.Add("GET", "Signature=&Signature=", "ACS3-HMAC-SM3 x", "", "", strings.Repeat("n", 300), []byte(nil))

	f.Fuzz(func(t *testing.T, method, rawQuery, authorization, contentType, date, nonce string, body []byte) {
		hr := &http.Request{
			Method: method,
			URL:    &url.URL{Path: "/", RawQuery: rawQuery},
			Header: http.Header{},
			Host:   testHost,
		}
		for k, val := range map[string]string{
			"Authorization": authorization, "Content-Type": contentType,
			"X-Acs-Date": date, "X-Acs-Signature-Nonce": nonce,
		} {
			if val != "" {
				hr.Header.Set(k, val)
			}
		}
		if authorization != "" {
			hr.Header.Set("X-Acs-Content-Sha256", sha256Hex(body))
			hr.Header.Set("X-Acs-Action", "ModifySecurityIps")
			hr.Header.Set("X-Acs-Version", "2015-01-01")
			hr.Header.Set("X-Acs-Credentials-Provider", "static_ak")
		}
		r, err := FromHTTP(hr, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidParameter || e.Status != 400 {
				t.Fatalf("FromHTTP error %#v", err)
			}
			return
		}
		v, _ := newVerifier()
		got, err := v.Verify(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" || (e.Status != 400 && e.Status != 404 && e.Status != 429) {
				t.Fatalf("Verify error %#v", err)
			}
			return
		}
		// Accepted: it must check out against the real secret, independently of Verify's code path.
		if got.AccessKeyID != testID || (got.Version != 1 && got.Version != 3) || got.Nonce == "" {
			t.Fatalf("Verified = %+v", got)
		}
		if got.Version == 1 {
			p, _ := r.params()
			if p.Get("Signature") == "" || strings.ReplaceAll(p.Get("Signature"), " ", "+") != signatureV1(StringToSignV1(method, p), testSecret) {
				t.Fatalf("V1 accepted without a valid signature: %v", p)
			}
		}
		// The same request a second time is a replay.
		if _, err := v.Verify(r); !errors.Is(err, ErrSignatureNonceUsed) {
			t.Fatalf("replay: %v", err)
		}
	})
}

// FuzzSignV1RoundTrip: whatever parameter a client adds, what SignV1 signs Verify accepts after the
// trip through url.Values.Encode, and a changed value is refused.
func FuzzSignV1RoundTrip(f *testing.F) {
	f.Add("Permissions.1.Description", "redis access", "POST", false)
	f.Add("SecurityIps", "10.0.0.1,10.0.0.0/8", "GET", true)
	f.Add("k", "a+b*c~d%20é\x00", "POST", true)
	f.Add("", "", "GET", false)
	f.Fuzz(func(t *testing.T, key, value, method string, inBody bool) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		p := url.Values{"Action": {"DescribeSecurityIps"}, key: {value}}
		SignV1(method, p, testID, testSecret, t0, "rt")
		if key == "SignatureType" && value != "" {
			return // bearer tokens are refused by design
		}
		query, form := p, url.Values(nil)
		if inBody {
			query, form = url.Values{}, p
		}
		v, _ := newVerifier()
		r := v1Wire(t, method, query, form)
		if _, err := v.Verify(r); err != nil {
			t.Fatalf("%q=%q via %s body=%v: %v", key, value, method, inBody, err)
		}
		// Tamper with the value (or add the parameter if SignV1 owns it): refused.
		target := r.Query
		if inBody {
			target = r.Form
		}
		target.Set("Action", target.Get("Action")+"x")
		if _, err := v.Verify(r); !errors.Is(err, ErrSignatureDoesNotMatch) {
			t.Fatalf("tampered request: %v", err)
		}
	})
}
