package sign

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const v3Query = "InstanceId=r-bp1zxszhcgatnx%2A%2A%2A%2A&ModifyMode=Append&SecurityIpGroupName=app&SecurityIps=10.0.0.1%2C192.168.0.0%2F24"

func TestV3QueryRoundTrip(t *testing.T) {
	v, _ := newVerifier()
	r := signedV3(t, "POST", v3Query, nil, "", t0, "v3-1")
	got := mustVerify(t, v, r)
	want := Verified{AccessKeyID: testID, Version: 3, Nonce: "v3-1", Time: t0}
	if got != want {
		t.Fatalf("Verified = %+v, want %+v", got, want)
	}
	// Values that need encoding: space (sent as '+' or %20), '*', '~', UTF-8, empty.
	v2, _ := newVerifier()
	mustVerify(t, v2, signedV3(t, "GET", "Description=redis+access&Name=a%2Ab~c&Label=%C3%A9t%C3%A9&Empty=", nil, "", t0, "v3-2"))
}

// Terraform's RpcPost style: parameters in a form body, content-type signed, body covered by its hash.
func TestV3FormBody(t *testing.T) {
	body := []byte("InstanceId=r-1&ModifyMode=Cover&SecurityIpGroupName=default&SecurityIps=10.0.0.1%2C10.0.0.2")
	const ct = "application/x-www-form-urlencoded"

	v, _ := newVerifier()
	r := signedV3(t, "POST", "", body, ct, t0, "form-1")
	if !strings.Contains(r.Header.Get("Authorization"), "SignedHeaders=content-type;host;") {
		t.Fatalf("test premise: content-type is signed: %s", r.Header.Get("Authorization"))
	}
	if r.Form.Get("SecurityIps") != "10.0.0.1,10.0.0.2" {
		t.Fatalf("form not decoded: %v", r.Form)
	}
	mustVerify(t, v, r)

	t.Run("body changed, hash header not", func(t *testing.T) {
		hr := v3HTTP("POST", "", body, ct, t0, "form-2")
		v3Oracle(hr, body, testID, testSecret)
		evil := []byte(strings.Replace(string(body), "10.0.0.2", "0.0.0.0%2F0", 1))
		v, _ := newVerifier()
		_, err := v.Verify(wire(t, hr, evil))
		wantError(t, err, CodeContentSHA256Mismatch, 400)
	})
	t.Run("body and hash header changed", func(t *testing.T) {
		hr := v3HTTP("POST", "", body, ct, t0, "form-3")
		v3Oracle(hr, body, testID, testSecret)
		evil := []byte(strings.Replace(string(body), "10.0.0.2", "0.0.0.0%2F0", 1))
		hr.Header.Set("x-acs-content-sha256", sha256Hex(evil))
		v, _ := newVerifier()
		_, err := v.Verify(wire(t, hr, evil))
		wantError(t, err, CodeSignatureDoesNotMatch, 400)
	})
	t.Run("content-type changed", func(t *testing.T) {
		hr := v3HTTP("POST", "", body, ct, t0, "form-4")
		v3Oracle(hr, body, testID, testSecret)
		hr.Header.Set("Content-Type", "application/json")
		v, _ := newVerifier()
		_, err := v.Verify(wire(t, hr, body))
		wantError(t, err, CodeSignatureDoesNotMatch, 400)
	})
	t.Run("content-type present but unsigned", func(t *testing.T) {
		hr := v3HTTP("POST", "", body, "", t0, "form-5")
		v3Oracle(hr, body, testID, testSecret)
		hr.Header.Set("Content-Type", ct)
		v, _ := newVerifier()
		_, err := v.Verify(wire(t, hr, body))
		e := wantError(t, err, CodeIncompleteSignature, 400)
		if !strings.Contains(e.Message, `"content-type" must be signed`) {
			t.Fatalf("message %q", e.Message)
		}
	})
}

func TestV3Tampered(t *testing.T) {
	cases := map[string]func(*http.Request){
		"query value":        func(hr *http.Request) { hr.URL.RawQuery = strings.Replace(hr.URL.RawQuery, "Append", "Cover", 1) },
		"query added":        func(hr *http.Request) { hr.URL.RawQuery += "&OwnerId=1" },
		"signed header":      func(hr *http.Request) { hr.Header.Set("x-acs-action", "DescribeSecurityIps") },
		"host":               func(hr *http.Request) { hr.Host = "elsewhere:8080" },
		"method":             func(hr *http.Request) { hr.Method = "GET" },
		"path":               func(hr *http.Request) { hr.URL.Path = "/other" },
		"signature":          func(hr *http.Request) { replaceAuth(hr, "Signature=b", "Signature=c") },
		"signature not hex":  func(hr *http.Request) { replaceAuth(hr, "Signature=", "Signature=zz") },
		"another key's name": func(hr *http.Request) { replaceAuth(hr, "Credential=testid", "Credential=other") },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			hr := v3HTTP("POST", v3Query, nil, "", t0, "t-"+name)
			v3Oracle(hr, nil, testID, testSecret)
			if name == "signature" {
				// make sure the signature starts with a known digit, then alter it
				auth := hr.Header.Get("Authorization")
				i := strings.Index(auth, "Signature=") + len("Signature=")
				hr.Header.Set("Authorization", auth[:i]+"b"+auth[i+1:])
			}
			mutate(hr)
			v, _ := newVerifier()
			r := wire(t, hr, nil)
			_, err := v.Verify(r)
			e := wantError(t, err, CodeSignatureDoesNotMatch, 400)
			signed := strings.Split(between(r.Header.Get("Authorization"), "SignedHeaders=", ","), ";")
			cr := CanonicalRequestV3(r, signed)
			want := "Specified signature is not matched with our calculation. server string to sign is:" +
				stringToSignV3(cr) + "\ncanonical request is:\n" + cr
			if e.Message != want {
				t.Fatalf("message\n got %q\nwant %q", e.Message, want)
			}
		})
	}
}

func replaceAuth(hr *http.Request, old, new string) {
	hr.Header.Set("Authorization", strings.Replace(hr.Header.Get("Authorization"), old, new, 1))
}

func between(s, from, to string) string {
	_, s, _ = strings.Cut(s, from)
	s, _, _ = strings.Cut(s, to)
	return s
}

func TestV3UnknownKeyAndWrongSecret(t *testing.T) {
	hr := v3HTTP("POST", v3Query, nil, "", t0, "k-1")
	v3Oracle(hr, nil, "nobody", testSecret)
	v, _ := newVerifier()
	_, err := v.Verify(wire(t, hr, nil))
	wantError(t, err, CodeAccessKeyNotFound, 404)

	hr = v3HTTP("POST", v3Query, nil, "", t0, "k-2")
	v3Oracle(hr, nil, testID, testSecret+"&") // the V1 key form is wrong for V3
	_, err = v.Verify(wire(t, hr, nil))
	wantError(t, err, CodeSignatureDoesNotMatch, 400)
}

func TestV3MissingAndMalformed(t *testing.T) {
	const sig = "0000000000000000000000000000000000000000000000000000000000000000"
	const signed = "host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version"
	cases := []struct {
		name   string
		mutate func(*http.Request) // applied after signing
		code   string
		detail string
	}{
		{"no x-acs-date", func(hr *http.Request) { hr.Header.Del("x-acs-date") }, CodeMissingTimestamp, "x-acs-date header is mandatory"},
		{"no nonce", func(hr *http.Request) { hr.Header.Del("x-acs-signature-nonce") }, CodeMissingSignatureNonce, "x-acs-signature-nonce header is mandatory"},
		{"no content hash", func(hr *http.Request) { hr.Header.Del("x-acs-content-sha256") }, CodeIncompleteSignature, "x-acs-content-sha256"},
		{"no host", func(hr *http.Request) { hr.Host = "" }, CodeIncompleteSignature, "host header is absent"},
		{"unsigned x-acs header", func(hr *http.Request) { hr.Header.Set("x-acs-security-token", "tok") }, CodeIncompleteSignature, `"x-acs-security-token" must be signed`},
		{"signed header repeated", func(hr *http.Request) { hr.Header.Add("x-acs-action", "DeleteInstance") }, CodeIncompleteSignature, "appears more than once"},
		{"two Authorization headers", func(hr *http.Request) { hr.Header.Add("Authorization", hr.Header.Get("Authorization")) }, CodeIncompleteSignature, "more than one Authorization"},
		{"date format", func(hr *http.Request) { hr.Header.Set("x-acs-date", "Sat, 21 Nov 2026 12:00:00 GMT") }, CodeTimeStampFormat, ""},
		{"nonce too long", func(hr *http.Request) { hr.Header.Set("x-acs-signature-nonce", strings.Repeat("n", 200)) }, CodeInvalidSignatureNonce, ""},
		{"hash upper-case", func(hr *http.Request) {
			hr.Header.Set("x-acs-content-sha256", strings.ToUpper(hr.Header.Get("x-acs-content-sha256")))
		}, CodeContentSHA256Mismatch, ""},
		{"unsigned-payload", func(hr *http.Request) { hr.Header.Set("x-acs-content-sha256", "UNSIGNED-PAYLOAD") }, CodeContentSHA256Mismatch, ""},
		{"repeated query parameter", func(hr *http.Request) { hr.URL.RawQuery += "&ModifyMode=Cover" }, CodeDuplicateParameter, ""},
		// Authorization header shapes.
		{"no space after algorithm", setAuth("ACS3-HMAC-SHA256Credential=testid,SignedHeaders=" + signed + ",Signature=" + sig), CodeUnsupportedSignatureMethod, ""},
		{"algorithm alone", setAuth("ACS3-HMAC-SHA256"), CodeIncompleteSignature, ""},
		{"other ACS3 algorithm", setAuth("ACS3-HMAC-SM3 Credential=testid,SignedHeaders=" + signed + ",Signature=" + sig), CodeUnsupportedSignatureMethod, ""},
		{"no Credential", setAuth("ACS3-HMAC-SHA256 SignedHeaders=" + signed + ",Signature=" + sig), CodeIncompleteSignature, "lacks Credential"},
		{"empty Credential", setAuth("ACS3-HMAC-SHA256 Credential=,SignedHeaders=" + signed + ",Signature=" + sig), CodeIncompleteSignature, "lacks Credential"},
		{"no SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,Signature=" + sig), CodeIncompleteSignature, "lacks SignedHeaders"},
		{"no Signature", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" + signed), CodeIncompleteSignature, "lacks Signature"},
		{"field twice", setAuth("ACS3-HMAC-SHA256 Credential=testid,Credential=other,SignedHeaders=" + signed + ",Signature=" + sig), CodeIncompleteSignature, "more than once"},
		{"unknown field", setAuth("ACS3-HMAC-SHA256 Credential=testid,Scope=x,SignedHeaders=" + signed + ",Signature=" + sig), CodeIncompleteSignature, "Unknown Authorization field"},
		{"field without =", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" + signed + ",Signature"), CodeIncompleteSignature, ""},
		{"unsorted SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=x-acs-date;host,Signature=" + sig), CodeIncompleteSignature, "sorted"},
		{"upper-case SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=Host;x-acs-date,Signature=" + sig), CodeIncompleteSignature, "lower-case"},
		{"empty SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=,Signature=" + sig), CodeIncompleteSignature, "lacks SignedHeaders"},
		{"empty name in SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;;x-acs-date,Signature=" + sig), CodeIncompleteSignature, "lower-case"},
		{"signed header absent", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" + signed + ";z-absent,Signature=" + sig), CodeIncompleteSignature, `"z-absent" is absent`},
		{"required header unsigned", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-signature-nonce;x-acs-version,Signature=" + sig), CodeIncompleteSignature, `"x-acs-date" must be signed`},
		{"host unsigned", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=" + sig), CodeIncompleteSignature, `"host" must be signed`},
		{"too many SignedHeaders", setAuth("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" + manyHeaders(65) + ",Signature=" + sig), CodeIncompleteSignature, "more than 64"},
		{"Authorization over 4 KiB", setAuth("ACS3-HMAC-SHA256 Credential=" + strings.Repeat("k", 4096) + ",SignedHeaders=" + signed + ",Signature=" + sig), CodeIncompleteSignature, "longer than 4096"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr := v3HTTP("POST", v3Query, nil, "", t0, "m-"+tc.name)
			v3Oracle(hr, nil, testID, testSecret)
			tc.mutate(hr)
			v, _ := newVerifier()
			_, err := v.Verify(wire(t, hr, nil))
			e := wantError(t, err, tc.code, 400)
			if !strings.Contains(e.Message, tc.detail) {
				t.Fatalf("message %q lacks %q", e.Message, tc.detail)
			}
		})
	}
}

func setAuth(a string) func(*http.Request) {
	return func(hr *http.Request) { hr.Header.Set("Authorization", a) }
}

func manyHeaders(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = "x-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	return strings.Join(names, ";")
}

// Both present: the Authorization header wins, and spaces around its commas are tolerated.
func TestV3TakesPrecedenceOverV1(t *testing.T) {
	p := signedV1("POST", url.Values{"InstanceId": {"r-1"}}, testID, testSecret, t0, "v1-nonce")
	hr := v3HTTP("POST", p.Encode(), nil, "", t0, "v3-nonce")
	v3Oracle(hr, nil, testID, testSecret)
	replaceAuth(hr, ",SignedHeaders", ", SignedHeaders")
	replaceAuth(hr, ",Signature", ", Signature")
	v, _ := newVerifier()
	got := mustVerify(t, v, wire(t, hr, nil))
	if got.Version != 3 || got.Nonce != "v3-nonce" {
		t.Fatalf("Verified = %+v", got)
	}
	// A non-ACS3 Authorization header is ignored and the V1 parameters decide.
	hr = v3HTTP("POST", p.Encode(), nil, "", t0, "x")
	hr.Header = http.Header{"Authorization": {"Bearer abc"}}
	got = mustVerify(t, v, wire(t, hr, nil))
	if got.Version != 1 || got.Nonce != "v1-nonce" {
		t.Fatalf("Verified = %+v", got)
	}
}

// CanonicalRequestV3 matches the darabonba oracle for assorted queries and headers.
func TestCanonicalRequestV3MatchesOracle(t *testing.T) {
	queries := []string{
		"",
		"A=1",
		"b=2&a=1&c=",
		"Description=redis+access&Name=a%2Ab~c%21%27%28%29&Label=%C3%A9t%C3%A9",
		"SecurityIps=10.0.0.1%2C192.168.0.0%2F24&ModifyMode=Append",
	}
	for _, q := range queries {
		hr := v3HTTP("POST", q, []byte("x=1"), "application/x-www-form-urlencoded; charset=utf-8", t0, "n")
		hr.Header.Set("x-acs-security-token", "  padded  ")
		want := v3Oracle(hr, []byte("x=1"), testID, testSecret)
		r := wire(t, hr, []byte("x=1"))
		signed := strings.Split(between(r.Header.Get("Authorization"), "SignedHeaders=", ","), ";")
		if got := CanonicalRequestV3(r, signed); got != want {
			t.Errorf("query %q\n got %q\nwant %q", q, got, want)
		}
	}
}

// Several values of one header: trimmed, sorted and joined with "," (darabonba's rule); an empty path is "/".
func TestCanonicalRequestV3Details(t *testing.T) {
	r := &Request{
		Method: "GET",
		Query:  url.Values{"b": {"2"}, "a": {"x y", "1"}},
		Header: http.Header{"X-Acs-Multi": {" b ", "a"}, "host": {"h"}},
	}
	want := "GET\n/\na=x%20y&a=1&b=2\nhost:h\nx-acs-multi:a,b\n\nhost;x-acs-multi\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := CanonicalRequestV3(r, []string{"host", "x-acs-multi"}); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
