package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	v3Algorithm         = "ACS3-HMAC-SHA256"
	maxAuthorizationLen = 4096 // bytes of the Authorization header
	maxSignedHeaders    = 64
)

// V3 headers the verifier interprets; each must be present and signed.
const (
	hdrDate    = "x-acs-date"
	hdrNonce   = "x-acs-signature-nonce"
	hdrContent = "x-acs-content-sha256"
	hdrHost    = "host"
)

// CanonicalRequestV3 is the V3 canonical request of r for the given signed header names (lower-case,
// sorted, as listed in the Authorization header):
//
//	METHOD \n PATH \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(SHA-256(Body))
//
// PATH is r.Path ("/" if empty); CanonicalQuery covers r.Query only (form parameters are covered by the
// body hash), sorted by key, enc(key)=enc(value) joined by "&" with RFC 3986 encoding; CanonicalHeaders
// is "name:value\n" per signed header, value trimmed (several values: trimmed, sorted, joined with ",");
// SignedHeaders is the names joined with ";". Header names in r.Header are matched case-insensitively
// and "host" is read from r.Header["Host"].
func CanonicalRequestV3(r *Request, signedHeaders []string) string {
	path := r.Path
	if path == "" {
		path = "/"
	}
	h := lowerHeader(r.Header)
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.Query, ""))
	b.WriteByte('\n')
	for _, name := range signedHeaders {
		vals := make([]string, 0, len(h[name]))
		for _, v := range h[name] {
			vals = append(vals, strings.TrimSpace(v))
		}
		slices.Sort(vals)
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(sha256Hex(r.Body))
	return b.String()
}

// stringToSignV3 is "ACS3-HMAC-SHA256\n" + hex(SHA-256(canonicalRequest)).
func stringToSignV3(canonicalRequest string) string {
	return v3Algorithm + "\n" + sha256Hex([]byte(canonicalRequest))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// signatureV3 is HMAC-SHA256(secret, stringToSign); the key has no "&" appended, unlike V1.
func signatureV3(stringToSign, secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return m.Sum(nil)
}

type v3Auth struct {
	credential    string   // the access key ID
	signedHeaders []string // lower-case, sorted, unique
	signature     string   // hex
}

// parseAuthorization parses "ACS3-HMAC-SHA256 Credential=ID,SignedHeaders=a;b;c,Signature=hex"
// (spaces around the commas tolerated; each field exactly once; no other fields).
func parseAuthorization(a string) (v3Auth, *Error) {
	const form = `Authorization must be "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>".`
	if len(a) > maxAuthorizationLen {
		return v3Auth{}, incomplete("The Authorization header is longer than " + strconv.Itoa(maxAuthorizationLen) + " bytes.")
	}
	rest, ok := strings.CutPrefix(a, v3Algorithm+" ")
	if !ok {
		return v3Auth{}, incomplete(form)
	}
	var auth v3Auth
	var sawCred, sawHeaders, sawSig bool
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return v3Auth{}, incomplete(form)
		}
		var seen *bool
		switch k {
		case "Credential":
			seen, auth.credential = &sawCred, val
		case "SignedHeaders":
			seen = &sawHeaders
			hs, e := parseSignedHeaders(val)
			if e != nil {
				return v3Auth{}, e
			}
			auth.signedHeaders = hs
		case "Signature":
			seen, auth.signature = &sawSig, val
		default:
			return v3Auth{}, incomplete("Unknown Authorization field " + quote(k) + "; " + form)
		}
		if *seen {
			return v3Auth{}, incomplete("The Authorization field " + k + " is given more than once.")
		}
		*seen = true
	}
	switch {
	case auth.credential == "":
		return v3Auth{}, incomplete("The Authorization header lacks Credential (the AccessKeyId).")
	case len(auth.signedHeaders) == 0:
		return v3Auth{}, incomplete("The Authorization header lacks SignedHeaders.")
	case auth.signature == "":
		return v3Auth{}, incomplete("The Authorization header lacks Signature.")
	}
	return auth, nil
}

func parseSignedHeaders(s string) ([]string, *Error) {
	if s == "" {
		return nil, nil
	}
	names := strings.Split(s, ";")
	if len(names) > maxSignedHeaders {
		return nil, incomplete("SignedHeaders lists more than " + strconv.Itoa(maxSignedHeaders) + " headers.")
	}
	for i, n := range names {
		if !lowerToken(n) {
			return nil, incomplete("SignedHeaders must list lower-case header names separated by \";\"; got " + quote(n) + ".")
		}
		if i > 0 && n <= names[i-1] {
			return nil, incomplete("SignedHeaders must be sorted, each name once; " + quote(n) + " is out of place.")
		}
	}
	return names, nil
}

// lowerToken reports whether s is a non-empty HTTP token without upper-case letters.
func lowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// verifyV3 checks a request carrying an ACS3-HMAC-SHA256 Authorization header.
// h is lowerHeader(r.Header).
func (v *Verifier) verifyV3(r *Request, h map[string][]string, now time.Time) (Verified, error) {
	if len(h["authorization"]) != 1 {
		return Verified{}, incomplete("The request carries more than one Authorization header.")
	}
	auth, e := parseAuthorization(h["authorization"][0])
	if e != nil {
		return Verified{}, e
	}
	one := func(name string) string {
		if vs := h[name]; len(vs) > 0 {
			return strings.TrimSpace(vs[0])
		}
		return ""
	}
	switch {
	case one(hdrDate) == "":
		return Verified{}, missing(CodeMissingTimestamp, "The x-acs-date header")
	case one(hdrNonce) == "":
		return Verified{}, missing(CodeMissingSignatureNonce, "The x-acs-signature-nonce header")
	case one(hdrContent) == "":
		return Verified{}, incomplete("The x-acs-content-sha256 header is absent.")
	case one(hdrHost) == "":
		return Verified{}, incomplete("The host header is absent.")
	}
	signed := make(map[string]bool, len(auth.signedHeaders))
	for _, name := range auth.signedHeaders {
		switch n := len(h[name]); {
		case n == 0:
			return Verified{}, incomplete("The signed header " + quote(name) + " is absent.")
		case n > 1:
			return Verified{}, incomplete("The signed header " + quote(name) + " appears more than once.")
		}
		signed[name] = true
	}
	present := make([]string, 0, len(h))
	for name := range h {
		present = append(present, name)
	}
	slices.Sort(present)
	for _, name := range present {
		if (name == hdrHost || name == "content-type" || strings.HasPrefix(name, "x-acs-")) && !signed[name] {
			return Verified{}, incomplete("The header " + quote(name) + " must be signed (host, content-type and every x-acs-* header present are).")
		}
	}
	if _, e := r.params(); e != nil {
		return Verified{}, e
	}
	t, e := v.checkTime(one(hdrDate), now)
	if e != nil {
		return Verified{}, e
	}
	nonce := one(hdrNonce)
	if e := checkNonce(nonce); e != nil {
		return Verified{}, e
	}
	if bodyHash := sha256Hex(r.Body); one(hdrContent) != bodyHash {
		return Verified{}, badRequest(CodeContentSHA256Mismatch,
			"Specified x-acs-content-sha256 is not the SHA-256 of the request body; expected lower-case hex "+bodyHash+".")
	}
	secret, e := v.secret(auth.credential)
	if e != nil {
		return Verified{}, e
	}
	cr := CanonicalRequestV3(r, auth.signedHeaders)
	sts := stringToSignV3(cr)
	got, err := hex.DecodeString(auth.signature)
	if err != nil || !hmac.Equal(signatureV3(sts, secret), got) {
		return Verified{}, badRequest(CodeSignatureDoesNotMatch,
			msgSignatureDoesNotMatch+sts+"\ncanonical request is:\n"+cr)
	}
	if e := v.useNonce(auth.credential, nonce, now, r.ReadOnly); e != nil {
		return Verified{}, e
	}
	return Verified{AccessKeyID: auth.credential, Version: 3, Nonce: nonce, Time: t}, nil
}
