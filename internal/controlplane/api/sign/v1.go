package sign

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
)

// TimeFormat is the layout of the V1 Timestamp parameter and the V3 x-acs-date header (UTC, whole seconds).
const TimeFormat = "2006-01-02T15:04:05Z"

// V1 parameter names and the only values accepted for them.
const (
	v1Method  = "HMAC-SHA1"
	v1Version = "1.0"
)

// StringToSignV1 is the V1 string to sign for a request with the given HTTP method and parameters (query
// and form merged): METHOD + "&%2F&" + enc(canonical), where canonical is every parameter but Signature,
// sorted by key, as enc(key)=enc(value) joined by "&", empty values included, and enc is RFC 3986
// percent-encoding. A key with several values contributes each in order (Verify refuses such requests).
func StringToSignV1(method string, params url.Values) string {
	return method + "&%2F&" + percentEncode(canonicalQuery(params, "Signature"))
}

// signatureV1 is Base64(HMAC-SHA1(secret + "&", stringToSign)).
func signatureV1(stringToSign, secret string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignV1 signs params in place the way SDK-v1 does, for a request sent with the given HTTP method
// carrying params (all of them, whether they then travel in the query or in a form body). It sets
// AccessKeyId, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0, SignatureNonce and Timestamp (now in
// UTC; a zero now means time.Now()), overwriting any earlier values, adds Format=JSON if Format is absent,
// removes any old Signature and then sets Signature. An empty nonce is replaced by NewNonce(). params
// must not be nil. The result may be sent encoded with url.Values.Encode ('+' for space): Verify decodes
// it before re-encoding.
func SignV1(method string, params url.Values, accessKeyID, secret string, now time.Time, nonce string) {
	if now.IsZero() {
		now = time.Now()
	}
	if nonce == "" {
		nonce = NewNonce()
	}
	params.Del("Signature")
	params.Set("AccessKeyId", accessKeyID)
	params.Set("SignatureMethod", v1Method)
	params.Set("SignatureVersion", v1Version)
	params.Set("SignatureNonce", nonce)
	params.Set("Timestamp", now.UTC().Format(TimeFormat))
	if _, ok := params["Format"]; !ok {
		params.Set("Format", "JSON")
	}
	params.Set("Signature", signatureV1(StringToSignV1(method, params), secret))
}

// NewNonce returns 32 random hex digits, fit for SignatureNonce / x-acs-signature-nonce.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics on a broken system source)
	return hex.EncodeToString(b[:])
}

// verifyV1 checks a request carrying a Signature parameter.
func (v *Verifier) verifyV1(r *Request, now time.Time) (Verified, error) {
	params, e := r.params()
	if e != nil {
		return Verified{}, e
	}
	get := func(k string) string {
		if vs := params[k]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	sig := get("Signature")
	if sig == "" {
		return Verified{}, missing(CodeMissingSignature, "Signature")
	}
	id := get("AccessKeyId")
	if id == "" {
		return Verified{}, missing(CodeMissingAccessKeyID, "AccessKeyId")
	}
	switch m := get("SignatureMethod"); m {
	case "":
		return Verified{}, missing(CodeMissingSignatureMethod, "SignatureMethod")
	case v1Method:
	default:
		return Verified{}, badRequest(CodeUnsupportedSignatureMethod,
			"Specified signature method "+quote(m)+" is not supported; use HMAC-SHA1 (or the ACS3-HMAC-SHA256 Authorization header).")
	}
	switch ver := get("SignatureVersion"); ver {
	case "":
		return Verified{}, missing(CodeMissingSignatureVersion, "SignatureVersion")
	case v1Version:
	default:
		return Verified{}, badRequest(CodeUnsupportedSignatureVersion,
			"Specified signature version "+quote(ver)+" is not supported; use 1.0.")
	}
	if st := get("SignatureType"); st != "" {
		return Verified{}, badRequest(CodeUnsupportedSignatureType,
			"Specified signature type "+quote(st)+" is not supported; leave SignatureType empty.")
	}
	ts := get("Timestamp")
	if ts == "" {
		return Verified{}, missing(CodeMissingTimestamp, "Timestamp")
	}
	nonce := get("SignatureNonce")
	if nonce == "" {
		return Verified{}, missing(CodeMissingSignatureNonce, "SignatureNonce")
	}
	t, e := v.checkTime(ts, now)
	if e != nil {
		return Verified{}, e
	}
	if e := checkNonce(nonce); e != nil {
		return Verified{}, e
	}
	secret, e := v.secret(id)
	if e != nil {
		return Verified{}, e
	}
	sts := StringToSignV1(r.Method, params)
	// Base64 never contains a space; a client that forgot to percent-encode the '+' of its signature
	// has it decoded to a space. Taking it back costs nothing and grants nothing.
	sig = strings.ReplaceAll(sig, " ", "+")
	if !hmac.Equal([]byte(signatureV1(sts, secret)), []byte(sig)) {
		return Verified{}, mismatch(sts)
	}
	if e := v.useNonce(id, nonce, now, r.ReadOnly); e != nil {
		return Verified{}, e
	}
	return Verified{AccessKeyID: id, Version: 1, Nonce: nonce, Time: t}, nil
}
