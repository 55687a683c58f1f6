package sign

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for a Verifier's zero fields.
const (
	DefaultWindow       = 15 * time.Minute
	DefaultMaxNonces    = 100_000
	DefaultKeyRate      = rate.Limit(20) // verified calls per second per access key, sustained
	DefaultKeyBurst     = 500            // verified calls per access key at once
	DefaultMaxKeyNonces = 10_000         // nonces remembered per access key: ~5.5 calls/s over 2×window

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

// Verifier checks request signatures (V1 and V3), the timestamp window, nonce replay and each access
// key's budget.
//
// A request's timestamp must be within Window of Now (inclusive): ±15 minutes by default. A nonce may
// be used once per access key: after a request verifies, its nonce is remembered for 2×Window, and a
// request reusing it in that time is refused with SignatureNonceUsed. With a Journal, the nonce is also
// recorded durably before Verify accepts the request, so a replay is refused after a restart of the
// process too, and by every Verifier sharing the journal's store.
//
// Budgets are per access key, so that one key cannot use up what all keys share: a key may make
// KeyRate verified calls per second sustained, in bursts of KeyBurst, and have MaxKeyNonces nonces
// remembered; over either it is refused with Throttling.User (HTTP 400, the provider's code) while
// other keys are served. All keys together have at most MaxNonces nonces remembered (a backstop that
// bounds memory: Throttling.NonceCache, HTTP 429). A nonce is never forgotten early, which would
// reopen the replay window. Nonces are recorded and budgets spent only for requests whose signature
// verified, so unsigned traffic cannot fill the memory; a replay of a remembered nonce is refused
// before it spends its key's budget, so replaying a captured request cannot throttle its key.
//
// Set the exported fields before the first Verify and leave them alone afterwards; zero values mean the
// defaults. Verify is safe for concurrent use.
type Verifier struct {
	Window       time.Duration    // timestamp tolerance either way; 0 = DefaultWindow
	MaxNonces    int              // nonces remembered at most, all keys together; 0 = DefaultMaxNonces
	MaxKeyNonces int              // nonces remembered at most per access key; 0 = DefaultMaxKeyNonces
	KeyRate      rate.Limit       // verified calls per second per access key; 0 = DefaultKeyRate
	KeyBurst     int              // verified calls per access key at once; 0 = DefaultKeyBurst
	Journal      Journal          // where nonces are made durable; nil = memory only
	Now          func() time.Time // clock; nil = time.Now

	secrets Secrets

	mu     sync.Mutex
	nonces nonceSet
	keys   keyLimiters
}

// PublicCause is implemented by a Journal error whose cause the caller may read (a shared store's
// outage, and since when): Verify adds it to the ServiceUnavailable message. Other errors are not shown.
type PublicCause interface{ PublicCause() string }

// Outage is implemented by a Journal error that means only that the journal's store cannot be reached
// for now: the nonce was neither recorded durably nor found used. The nonce of a read-only request
// (Request.ReadOnly) is then accepted on the Verifier's in-memory record alone, which still refuses a
// replay to this Verifier: a read replayed elsewhere changes nothing. Any other request is refused.
type Outage interface{ Outage() }

// Journal keeps used nonces durably (and, with a shared store, for every process using it).
// Implementations are safe for concurrent use.
type Journal interface {
	// Use records that access key id used nonce, remembered until expiry. It reports fresh=false,
	// recording nothing, if that nonce is recorded already and its expiry is after now. It returns only
	// once the record is durable; on error the caller must refuse the request.
	Use(id, nonce string, now, expiry time.Time) (fresh bool, err error)
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

func (v *Verifier) maxKeyNonces() int {
	if v.MaxKeyNonces > 0 {
		return v.MaxKeyNonces
	}
	return DefaultMaxKeyNonces
}

func (v *Verifier) keyRate() (rate.Limit, int) {
	r, b := v.KeyRate, v.KeyBurst
	if r <= 0 {
		r = DefaultKeyRate
	}
	if b <= 0 {
		b = DefaultKeyBurst
	}
	return r, b
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

// useNonce records the nonce of a verified request, refusing a reuse, a key over its budget or a full
// memory; then it makes the nonce durable in the journal (for a read-only request, when it can: Outage).
func (v *Verifier) useNonce(id, nonce string, now time.Time, readOnly bool) *Error {
	expiry := now.Add(2 * v.window())
	if e := v.remember(id, nonce, now, expiry); e != nil {
		return e
	}
	if v.Journal == nil {
		return nil
	}
	fresh, err := v.Journal.Use(id, nonce, now, expiry)
	var outage Outage
	if err != nil && readOnly && errors.As(err, &outage) {
		return nil // remembered above, in memory
	}
	if err != nil {
		msg := msgServiceUnavailable
		var pub PublicCause
		if errors.As(err, &pub) {
			msg += " " + pub.PublicCause()
		}
		return newError(CodeServiceUnavailable, http.StatusServiceUnavailable, msg)
	}
	if !fresh {
		return badRequest(CodeSignatureNonceUsed, msgSignatureNonceUsed)
	}
	return nil
}

// Spend counts one call of access key id against its call rate (KeyRate, in bursts of KeyBurst), for a
// call authenticated without a signature (the console's, which has no nonce to remember): over it,
// Throttling.User, as for a signed call. nil: the call may go on.
func (v *Verifier) Spend(id string) *Error {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, b := v.keyRate(); !v.keys.allow(id, now, r, b) {
		return throttled(id, "at most "+strconv.FormatFloat(float64(r), 'g', -1, 64)+
			" calls per second (bursts of "+strconv.Itoa(b)+")")
	}
	return nil
}

// remember records the nonce in memory, in this order: a replay is refused before the key's budget is
// spent; then the key's rate, the key's nonces and all nonces are checked.
func (v *Verifier) remember(id, nonce string, now, expiry time.Time) *Error {
	key := id + "\x00" + nonce
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.nonces.used(key, now) {
		return badRequest(CodeSignatureNonceUsed, msgSignatureNonceUsed)
	}
	if r, b := v.keyRate(); !v.keys.allow(id, now, r, b) {
		return throttled(id, "at most "+strconv.FormatFloat(float64(r), 'g', -1, 64)+
			" calls per second (bursts of "+strconv.Itoa(b)+")")
	}
	switch v.nonces.add(id, key, now, expiry, v.maxNonces(), v.maxKeyNonces()) {
	case nonceUsed:
		return badRequest(CodeSignatureNonceUsed, msgSignatureNonceUsed)
	case nonceOwnerFull:
		return throttled(id, "at most "+strconv.Itoa(v.maxKeyNonces())+" calls per "+(2*v.window()).String())
	case nonceFull:
		return newError(CodeNonceCacheFull, http.StatusTooManyRequests,
			"Too many signed requests in the last "+(2*v.window()).String()+": the server remembers at most "+
				strconv.Itoa(v.maxNonces())+" signature nonces and forgets none early. Retry later.")
	}
	return nil
}
