package sign

import "net/http"

// Error is a refused request, in the provider's terms: Code and Message go into the error JSON
// ({"Code": …, "Message": …}) and Status is the HTTP status to answer with. Verify and FromHTTP return
// only *Error values, each one freshly made, so a caller may keep or change what it received.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is reports whether target is an *Error with the same Code, so that errors.Is(err, ErrSignatureNonceUsed)
// matches every nonce refusal whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && e != nil && t.Code == e.Code
}

// Error codes. Those marked (Alibaba) are the provider's own codes and wording; the others are moat's,
// named in the same style.
const (
	CodeMissingSignature            = "MissingSignature"            // 400 (Alibaba "Missing<Param>" family)
	CodeMissingAccessKeyID          = "MissingAccessKeyId"          // 400 (Alibaba "Missing<Param>" family)
	CodeMissingSignatureMethod      = "MissingSignatureMethod"      // 400 (Alibaba "Missing<Param>" family)
	CodeMissingSignatureVersion     = "MissingSignatureVersion"     // 400 (Alibaba "Missing<Param>" family)
	CodeMissingTimestamp            = "MissingTimestamp"            // 400 (Alibaba "Missing<Param>" family)
	CodeMissingSignatureNonce       = "MissingSignatureNonce"       // 400 (Alibaba "Missing<Param>" family)
	CodeIncompleteSignature         = "IncompleteSignature"         // 400 (Alibaba)
	CodeSignatureDoesNotMatch       = "SignatureDoesNotMatch"       // 400 (Alibaba)
	CodeAccessKeyNotFound           = "InvalidAccessKeyId.NotFound" // 404 (Alibaba)
	CodeTimeStampExpired            = "InvalidTimeStamp.Expired"    // 400 (Alibaba)
	CodeTimeStampFormat             = "InvalidTimeStamp.Format"     // 400 (Alibaba)
	CodeSignatureNonceUsed          = "SignatureNonceUsed"          // 400 (Alibaba)
	CodeUnsupportedSignatureMethod  = "UnsupportedSignatureMethod"  // 400 (moat)
	CodeUnsupportedSignatureVersion = "UnsupportedSignatureVersion" // 400 (moat)
	CodeUnsupportedSignatureType    = "UnsupportedSignatureType"    // 400 (moat)
	CodeInvalidSignatureNonce       = "InvalidSignatureNonce"       // 400 (moat): nonce too long
	CodeContentSHA256Mismatch       = "ContentSha256DoesNotMatch"   // 400 (moat): V3 body hash
	CodeDuplicateParameter          = "InvalidParameter.Duplicate"  // 400 (moat)
	CodeInvalidParameter            = "InvalidParameter"            // 400 (Alibaba code; moat's message)
	CodeNonceCacheFull              = "Throttling.NonceCache"       // 429 (moat; "Throttling" prefix = retry later)
	CodeThrottlingUser              = "Throttling.User"             // 400 (Alibaba): one access key over its budget
	CodeServiceUnavailable          = "ServiceUnavailable"          // 503 (Alibaba): the nonce could not be made durable
)

// Fixed messages (Alibaba's wording where Alibaba has one).
const (
	msgSignatureDoesNotMatch = "Specified signature is not matched with our calculation. server string to sign is:"
	msgAccessKeyNotFound     = "Specified access key is not found."
	msgTimeStampExpired      = "Specified time stamp or date value is expired."
	msgTimeStampFormat       = "Specified time stamp or date value is not well formatted."
	msgSignatureNonceUsed    = "Specified signature nonce was used already."
	msgIncompleteSignature   = "The request signature does not conform to Aliyun standards."
	msgMandatory             = " is mandatory for this action."
	msgThrottlingUser        = "Request was denied due to user flow control."
	msgServiceUnavailable    = "The request has failed due to a temporary failure of the server."
)

// Sentinels for errors.Is; match on Code only. Verify never returns these values themselves.
var (
	ErrMissingSignature            = &Error{Code: CodeMissingSignature, Status: http.StatusBadRequest}
	ErrMissingAccessKeyID          = &Error{Code: CodeMissingAccessKeyID, Status: http.StatusBadRequest}
	ErrMissingSignatureMethod      = &Error{Code: CodeMissingSignatureMethod, Status: http.StatusBadRequest}
	ErrMissingSignatureVersion     = &Error{Code: CodeMissingSignatureVersion, Status: http.StatusBadRequest}
	ErrMissingTimestamp            = &Error{Code: CodeMissingTimestamp, Status: http.StatusBadRequest}
	ErrMissingSignatureNonce       = &Error{Code: CodeMissingSignatureNonce, Status: http.StatusBadRequest}
	ErrIncompleteSignature         = &Error{Code: CodeIncompleteSignature, Status: http.StatusBadRequest}
	ErrSignatureDoesNotMatch       = &Error{Code: CodeSignatureDoesNotMatch, Status: http.StatusBadRequest}
	ErrAccessKeyNotFound           = &Error{Code: CodeAccessKeyNotFound, Status: http.StatusNotFound}
	ErrTimeStampExpired            = &Error{Code: CodeTimeStampExpired, Status: http.StatusBadRequest}
	ErrTimeStampFormat             = &Error{Code: CodeTimeStampFormat, Status: http.StatusBadRequest}
	ErrSignatureNonceUsed          = &Error{Code: CodeSignatureNonceUsed, Status: http.StatusBadRequest}
	ErrUnsupportedSignatureMethod  = &Error{Code: CodeUnsupportedSignatureMethod, Status: http.StatusBadRequest}
	ErrUnsupportedSignatureVersion = &Error{Code: CodeUnsupportedSignatureVersion, Status: http.StatusBadRequest}
	ErrUnsupportedSignatureType    = &Error{Code: CodeUnsupportedSignatureType, Status: http.StatusBadRequest}
	ErrInvalidSignatureNonce       = &Error{Code: CodeInvalidSignatureNonce, Status: http.StatusBadRequest}
	ErrContentSHA256Mismatch       = &Error{Code: CodeContentSHA256Mismatch, Status: http.StatusBadRequest}
	ErrDuplicateParameter          = &Error{Code: CodeDuplicateParameter, Status: http.StatusBadRequest}
	ErrInvalidParameter            = &Error{Code: CodeInvalidParameter, Status: http.StatusBadRequest}
	ErrNonceCacheFull              = &Error{Code: CodeNonceCacheFull, Status: http.StatusTooManyRequests}
	ErrThrottlingUser              = &Error{Code: CodeThrottlingUser, Status: http.StatusBadRequest}
	ErrServiceUnavailable          = &Error{Code: CodeServiceUnavailable, Status: http.StatusServiceUnavailable}
)

func newError(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

func badRequest(code, msg string) *Error { return newError(code, http.StatusBadRequest, msg) }

// missing is Alibaba's "<Param> is mandatory for this action." under code.
func missing(code, what string) *Error { return badRequest(code, what+msgMandatory) }

func incomplete(detail string) *Error {
	return badRequest(CodeIncompleteSignature, msgIncompleteSignature+" "+detail)
}

func mismatch(serverStringToSign string) *Error {
	return badRequest(CodeSignatureDoesNotMatch, msgSignatureDoesNotMatch+serverStringToSign)
}

// throttled is Alibaba's Throttling.User for access key id, saying which budget it is over.
func throttled(id, budget string) *Error {
	return badRequest(CodeThrottlingUser, msgThrottlingUser+" Access key "+id+" may make "+budget+"; retry later.")
}

func keyNotFound() *Error {
	return newError(CodeAccessKeyNotFound, http.StatusNotFound, msgAccessKeyNotFound)
}
