package sign

import (
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestV1SignVerifyRoundTrip(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		v, _ := newVerifier()
		p := signedV1(method, describeParams(), testID, testSecret, t0, "n-1")
		got := mustVerify(t, v, v1Wire(t, method, p, nil))
		want := Verified{AccessKeyID: testID, Version: 1, Nonce: "n-1", Time: t0}
		if got != want {
			t.Fatalf("%s: Verified = %+v, want %+v", method, got, want)
		}
	}
}

func TestSignV1SetsCommonParameters(t *testing.T) {
	p := url.Values{
		"Action":      {"DescribeSecurityIps"},
		"AccessKeyId": {"stale"},
		"Signature":   {"stale"},
		"Timestamp":   {"1999-01-01T00:00:00Z"},
	}
	SignV1("POST", p, testID, testSecret, time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), "")
	want := map[string]string{
		"AccessKeyId":      testID,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureVersion": "1.0",
		"Timestamp":        "2026-01-02T02:04:05Z", // converted to UTC
		"Format":           "JSON",                 // added when absent
	}
	for k, w := range want {
		if got := p.Get(k); got != w || len(p[k]) != 1 {
			t.Errorf("%s = %q, want %q", k, p[k], w)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(p.Get("SignatureNonce")) {
		t.Errorf("generated nonce %q, want 32 hex digits", p.Get("SignatureNonce"))
	}
	if a, b := NewNonce(), NewNonce(); a == b {
		t.Error("NewNonce repeats")
	}
	// Signature is over everything else, and only one Signature remains.
	if len(p["Signature"]) != 1 || p.Get("Signature") != signatureV1(StringToSignV1("POST", p), testSecret) {
		t.Errorf("Signature %q does not sign the parameters", p["Signature"])
	}
	// An explicit Format is kept.
	q := url.Values{"Format": {"XML"}}
	SignV1("GET", q, testID, testSecret, t0, "n")
	if q.Get("Format") != "XML" {
		t.Errorf("Format overwritten: %q", q.Get("Format"))
	}
}

// SDK-v1 encodes the URL with url.Values.Encode, so a space arrives as '+', while the signature was made
// over %20. The verifier must decode, then re-encode with RFC 3986.
func TestV1PlusInURLIsSpace(t *testing.T) {
	v, _ := newVerifier()
	p := url.Values{
		"Action":                     {"AuthorizeSecurityGroup"},
		"Version":                    {"2014-05-26"},
		"Permissions.1.Description":  {"redis access"},
		"Permissions.1.SourceCidrIp": {"10.0.0.0/8"},
		"Literal":                    {"a+b*c~d é"},
	}
	p = signedV1("POST", p, testID, testSecret, t0, "plus")
	encoded := p.Encode()
	if !strings.Contains(encoded, "Permissions.1.Description=redis+access") || !strings.Contains(encoded, "Literal=a%2Bb%2Ac~d+%C3%A9") {
		t.Fatalf("test premise: the client encodes space as '+': %s", encoded)
	}
	r := wire(t, httptest.NewRequest("POST", "http://"+testHost+"/?"+encoded, nil), nil)
	if r.Query.Get("Permissions.1.Description") != "redis access" {
		t.Fatalf("decoded %q", r.Query.Get("Permissions.1.Description"))
	}
	sts := StringToSignV1("POST", r.Query)
	for _, frag := range []string{"redis%2520access", "Literal%3Da%252Bb%252Ac~d%2520%25C3%25A9"} {
		if !strings.Contains(sts, frag) {
			t.Errorf("string to sign lacks %s: %s", frag, sts)
		}
	}
	mustVerify(t, v, r)

	// A client that sent a literal '+' unencoded meant a space on the wire; it no longer matches "a+b".
	v2, _ := newVerifier()
	bad := strings.Replace(encoded, "a%2Bb", "a+b", 1)
	_, err := v2.Verify(wire(t, httptest.NewRequest("POST", "http://"+testHost+"/?"+bad, nil), nil))
	wantError(t, err, CodeSignatureDoesNotMatch, 400)
}

func TestV1FormBody(t *testing.T) {
	api := url.Values{
		"InstanceId":          {"r-1"},
		"SecurityIps":         {"10.0.0.1,10.0.0.2"},
		"SecurityIpGroupName": {"default"},
		"ModifyMode":          {"Cover"},
	}
	common := url.Values{"Action": {"ModifySecurityIps"}, "Version": {"2015-01-01"}}

	t.Run("API params in the body, common params in the query", func(t *testing.T) {
		all := url.Values{}
		for _, src := range []url.Values{api, common} {
			for k, vs := range src {
				all[k] = vs
			}
		}
		all = signedV1("POST", all, testID, testSecret, t0, "form-1")
		query, form := url.Values{}, url.Values{}
		for k, vs := range all {
			if api.Has(k) {
				form[k] = vs
			} else {
				query[k] = vs
			}
		}
		v, _ := newVerifier()
		r := v1Wire(t, "POST", query, form)
		if r.Form.Get("SecurityIps") != "10.0.0.1,10.0.0.2" || r.Query.Has("SecurityIps") {
			t.Fatalf("test premise: SecurityIps travels in the body: query %v form %v", r.Query, r.Form)
		}
		mustVerify(t, v, r)

		// Tampering with a body parameter breaks the signature.
		form.Set("SecurityIps", "0.0.0.0/0")
		v2, _ := newVerifier()
		_, err := v2.Verify(v1Wire(t, "POST", query, form))
		e := wantError(t, err, CodeSignatureDoesNotMatch, 400)
		if !strings.Contains(e.Message, "SecurityIps%3D0.0.0.0%252F0") {
			t.Fatalf("server string to sign does not show the tampered body parameter: %s", e.Message)
		}
	})

	t.Run("everything in the body", func(t *testing.T) {
		all := signedV1("POST", api, testID, testSecret, t0, "form-2")
		v, _ := newVerifier()
		got := mustVerify(t, v, v1Wire(t, "POST", url.Values{}, all))
		if got.Nonce != "form-2" {
			t.Fatalf("Verified = %+v", got)
		}
	})

	t.Run("same parameter in query and body", func(t *testing.T) {
		all := signedV1("POST", api, testID, testSecret, t0, "form-3")
		v, _ := newVerifier()
		_, err := v.Verify(v1Wire(t, "POST", url.Values{"InstanceId": {"r-1"}}, all))
		wantError(t, err, CodeDuplicateParameter, 400)
	})
}

func TestV1TamperedParameter(t *testing.T) {
	p := signedV1("POST", describeParams(), testID, testSecret, t0, "tamper")
	cases := map[string]func(url.Values){
		"changed value":        func(q url.Values) { q.Set("InstanceId", "r-other") },
		"added parameter":      func(q url.Values) { q.Set("OwnerId", "1") },
		"added empty param":    func(q url.Values) { q.Set("SignatureType", "") },
		"removed parameter":    func(q url.Values) { q.Del("RegionId") },
		"signature altered":    func(q url.Values) { q.Set("Signature", "A"+q.Get("Signature")[1:]) },
		"signature not base64": func(q url.Values) { q.Set("Signature", "%%%") },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			q := url.Values{}
			for k, vs := range p {
				q[k] = append([]string(nil), vs...)
			}
			mutate(q)
			v, _ := newVerifier()
			r := v1Wire(t, "POST", q, nil)
			_, err := v.Verify(r)
			e := wantError(t, err, CodeSignatureDoesNotMatch, 400)
			want := "Specified signature is not matched with our calculation. server string to sign is:" + StringToSignV1("POST", r.Query)
			if e.Message != want {
				t.Fatalf("message\n got %q\nwant %q", e.Message, want)
			}
		})
	}
	// The HTTP method is signed too.
	v, _ := newVerifier()
	_, err := v.Verify(v1Wire(t, "GET", p, nil))
	wantError(t, err, CodeSignatureDoesNotMatch, 400)
}

func TestV1WrongSecretAndUnknownKey(t *testing.T) {
	v, _ := newVerifier()
	_, err := v.Verify(v1Wire(t, "POST", signedV1("POST", describeParams(), testID, "wrong", t0, "s1"), nil))
	wantError(t, err, CodeSignatureDoesNotMatch, 400)

	_, err = v.Verify(v1Wire(t, "POST", signedV1("POST", describeParams(), "nobody", testSecret, t0, "s2"), nil))
	e := wantError(t, err, CodeAccessKeyNotFound, 404)
	if e.Message != "Specified access key is not found." {
		t.Fatalf("message %q", e.Message)
	}

	// A key whose secret is empty is treated as unknown, and so is every key without a Secrets function.
	empty := NewVerifier(keys(map[string]string{"blank": ""}))
	empty.Now = func() time.Time { return t0 }
	_, err = empty.Verify(v1Wire(t, "POST", signedV1("POST", describeParams(), "blank", "", t0, "s3"), nil))
	wantError(t, err, CodeAccessKeyNotFound, 404)
	none := NewVerifier(nil)
	none.Now = func() time.Time { return t0 }
	_, err = none.Verify(v1Wire(t, "POST", signedV1("POST", describeParams(), testID, testSecret, t0, "s4"), nil))
	wantError(t, err, CodeAccessKeyNotFound, 404)
}

func TestV1MissingAndInvalidPieces(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(url.Values)
		code    string
		message string
	}{
		{"no AccessKeyId", func(q url.Values) { q.Del("AccessKeyId") }, CodeMissingAccessKeyID, "AccessKeyId is mandatory for this action."},
		{"empty AccessKeyId", func(q url.Values) { q.Set("AccessKeyId", "") }, CodeMissingAccessKeyID, ""},
		{"no SignatureMethod", func(q url.Values) { q.Del("SignatureMethod") }, CodeMissingSignatureMethod, "SignatureMethod is mandatory for this action."},
		{"no SignatureVersion", func(q url.Values) { q.Del("SignatureVersion") }, CodeMissingSignatureVersion, ""},
		{"no Timestamp", func(q url.Values) { q.Del("Timestamp") }, CodeMissingTimestamp, "Timestamp is mandatory for this action."},
		{"no SignatureNonce", func(q url.Values) { q.Del("SignatureNonce") }, CodeMissingSignatureNonce, "SignatureNonce is mandatory for this action."},
		{"empty Signature", func(q url.Values) { q.Set("Signature", "") }, CodeMissingSignature, "Signature is mandatory for this action."},
		{"HMAC-SHA256 method", func(q url.Values) { q.Set("SignatureMethod", "HMAC-SHA256") }, CodeUnsupportedSignatureMethod, ""},
		{"version 2.0", func(q url.Values) { q.Set("SignatureVersion", "2.0") }, CodeUnsupportedSignatureVersion, ""},
		{"bearer token", func(q url.Values) { q.Set("SignatureType", "BEARERTOKEN") }, CodeUnsupportedSignatureType, ""},
		{"timestamp with offset", func(q url.Values) { q.Set("Timestamp", "2026-11-21T12:00:00+00:00") }, CodeTimeStampFormat, ""},
		{"timestamp with fraction", func(q url.Values) { q.Set("Timestamp", "2026-11-21T12:00:00.5Z") }, CodeTimeStampFormat, ""},
		{"timestamp as epoch", func(q url.Values) { q.Set("Timestamp", "1795176000") }, CodeTimeStampFormat, ""},
		{"nonce too long", func(q url.Values) { q.Set("SignatureNonce", strings.Repeat("n", 129)) }, CodeInvalidSignatureNonce, ""},
		{"repeated parameter", func(q url.Values) { q.Add("InstanceId", "r-2") }, CodeDuplicateParameter, `The parameter "InstanceId" is given more than once.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := signedV1("POST", describeParams(), testID, testSecret, t0, "m")
			tc.mutate(q)
			v, _ := newVerifier()
			_, err := v.Verify(v1Wire(t, "POST", q, nil))
			e := wantError(t, err, tc.code, 400)
			if tc.message != "" && e.Message != tc.message {
				t.Fatalf("message %q, want %q", e.Message, tc.message)
			}
		})
	}
	t.Run("no signature at all", func(t *testing.T) {
		v, _ := newVerifier()
		_, err := v.Verify(v1Wire(t, "POST", describeParams(), nil))
		wantError(t, err, CodeMissingSignature, 400)
		_, err = v.Verify(nil)
		wantError(t, err, CodeMissingSignature, 400)
	})
	t.Run("timestamp format message", func(t *testing.T) {
		q := signedV1("POST", describeParams(), testID, testSecret, t0, "m")
		q.Set("Timestamp", "yesterday")
		v, _ := newVerifier()
		_, err := v.Verify(v1Wire(t, "POST", q, nil))
		e := wantError(t, err, CodeTimeStampFormat, 400)
		if !strings.HasPrefix(e.Message, "Specified time stamp or date value is not well formatted.") {
			t.Fatalf("message %q", e.Message)
		}
	})
}

// A signature whose '+' was sent unencoded (decoded to a space) still verifies: base64 has no spaces.
func TestV1SignatureWithUnencodedPlus(t *testing.T) {
	for i := 0; i < 1000; i++ {
		nonce := "plus-" + strconv.Itoa(i)
		p := signedV1("POST", describeParams(), testID, testSecret, t0, nonce)
		if !strings.Contains(p.Get("Signature"), "+") {
			continue
		}
		raw := strings.Replace(p.Encode(), url.QueryEscape(p.Get("Signature")), strings.ReplaceAll(p.Get("Signature"), "/", "%2F"), 1)
		r := wire(t, httptest.NewRequest("POST", "http://"+testHost+"/?"+raw, nil), nil)
		if !strings.Contains(r.Query.Get("Signature"), " ") {
			t.Fatalf("test premise: signature decodes with a space: %q", r.Query.Get("Signature"))
		}
		v, _ := newVerifier()
		mustVerify(t, v, r)
		return
	}
	t.Fatal("no signature with '+' in 1000 tries")
}
