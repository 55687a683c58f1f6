package sign

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for a Verifier's zero fields.
const (
	DefaultWindow    = 15 * time.Minute
	DefaultMaxNonces = 100_000
)

// maxNonceLen bounds a nonce (SDKs send 32 hex digits or a 36-character UUID).
const maxNonceLen = 128

// Verified is the result of a successful verification.
type Verified struct {
	AccessKeyID string
	Version     int // 1 (HMAC-SHA1 parameters) or 3 (ACS3-HMAC-SHA256 Authorization header)
	Nonce       string
	Time        time.Time // the request's signed Timestamp / x-acs-date, UTC
}

// Secrets looks up an access key's secret; ok=false if the key is unknown. A key with an empty secret
// counts as unknown. It is called concurrently by concurrent Verify calls.
type Secrets func(accessKeyID string) (secret string, ok bool)

// Verifier checks request signatures (V1 and V3), the timestamp window and nonce replay.
//
// A request's timestamp must be within Window of Now (inclusive): ±15 minutes by default. A nonce may
// be used once per access key: after a request verifies, its nonce is remembered for 2×Window, and a
// request reusing it in that time is refused with SignatureNonceUsed. At most MaxNonces nonces are
// remembered; when that many are, further requests (with fresh nonces) are refused with
// Throttling.NonceCache until old nonces expire — a nonce is never forgotten early, which would reopen
// the replay window. Nonces are recorded only for requests whose signature verified, so unsigned
// traffic cannot fill the memory.
//
// Set the exported fields before the first Verify and leave them alone afterwards; zero values mean the
// defaults. Verify is safe for concurrent use.
type Verifier struct {
	Window    time.Duration    // timestamp tolerance either way; 0 = DefaultWindow
	MaxNonces int              // nonces remembered at most; 0 = DefaultMaxNonces
	Now       func() time.Time // clock; nil = time.Now

	secrets Secrets

	mu     sync.Mutex
	nonces nonceSet
}

// NewVerifier returns a Verifier with the default window and nonce bound, looking secrets up in secrets.
func NewVerifier(secrets Secrets) *Verifier {
	return &Verifier{secrets: secrets}
}

// Verify decides which scheme r uses and verifies it: V3 if an Authorization header starting with
// "ACS3-HMAC-SHA256" is present, else V1 if a Signature parameter (query or form) is present, else
// MissingSignature. (An Authorization header naming another ACS3 algorithm, e.g. ACS3-HMAC-SM3, is
// refused with UnsupportedSignatureMethod rather than ignored.) Every error is an *Error. r is only read.
func (v *Verifier) Verify(r *Request) (Verified, error) {
	if r == nil {
		return Verified{}, missing(CodeMissingSignature, "Signature")
	}
	now := v.now()
	h := lowerHeader(r.Header)
	for _, a := range h["authorization"] {
		if !strings.HasPrefix(a, "ACS3-") {
			continue
		}
		algo, _, _ := strings.Cut(a, " ")
		if algo != v3Algorithm {
			return Verified{}, badRequest(CodeUnsupportedSignatureMethod,
				"Specified signature method "+quote(algo)+" is not supported; use ACS3-HMAC-SHA256 (or HMAC-SHA1 parameters).")
		}
		return v.verifyV3(r, h, now)
	}
	if _, ok := r.Query["Signature"]; ok {
		return v.verifyV1(r, now)
	}
	if _, ok := r.Form["Signature"]; ok {
		return v.verifyV1(r, now)
	}
	return Verified{}, missing(CodeMissingSignature, "Signature")
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) window() time.Duration {
	if v.Window > 0 {
		return v.Window
	}
	return DefaultWindow
}

func (v *Verifier) maxNonces() int {
	if v.MaxNonces > 0 {
		return v.MaxNonces
	}
	return DefaultMaxNonces
}

// checkTime parses a signed timestamp and checks it is within the window around now.
func (v *Verifier) checkTime(ts string, now time.Time) (time.Time, *Error) {
	// time.Parse also takes a fractional second the layout lacks; the round trip keeps the format exact.
	t, err := time.Parse(TimeFormat, ts)
	if err != nil || t.Format(TimeFormat) != ts {
		return time.Time{}, badRequest(CodeTimeStampFormat,
			msgTimeStampFormat+" Use yyyy-MM-ddTHH:mm:ssZ in UTC, e.g. 2026-01-02T15:04:05Z; got "+quote(ts)+".")
	}
	if d := now.Sub(t); d > v.window() || d < -v.window() {
		return time.Time{}, badRequest(CodeTimeStampExpired, msgTimeStampExpired)
	}
	return t, nil
}

func checkNonce(nonce string) *Error {
	if len(nonce) > maxNonceLen {
		return badRequest(CodeInvalidSignatureNonce,
			"Specified signature nonce is longer than "+strconv.Itoa(maxNonceLen)+" bytes.")
	}
	return nil
}

// secret looks id up; unknown keys and empty secrets give InvalidAccessKeyId.NotFound.
func (v *Verifier) secret(id string) (string, *Error) {
	if v.secrets == nil {
		return "", keyNotFound()
	}
	s, ok := v.secrets(id)
	if !ok || s == "" {
		return "", keyNotFound()
	}
	return s, nil
}

// useNonce records the nonce of a verified request, refusing a reuse or a full memory.
func (v *Verifier) useNonce(id, nonce string, now time.Time) *Error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch v.nonces.add(id+"\x00"+nonce, now, now.Add(2*v.window()), v.maxNonces()) {
	case nonceUsed:
		return badRequest(CodeSignatureNonceUsed, msgSignatureNonceUsed)
	case nonceFull:
		return newError(CodeNonceCacheFull, http.StatusTooManyRequests,
			"Too many signed requests in the last "+(2*v.window()).String()+": the server remembers at most "+
				strconv.Itoa(v.maxNonces())+" signature nonces and forgets none early. Retry later.")
	}
	return nil
}
