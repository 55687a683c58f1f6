package sign

import (
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request is an incoming RPC request reduced to what signing covers. Verify only reads it.
type Request struct {
	Method string     // "GET" or "POST", as sent (V1 and V3 both sign it verbatim)
	Path   string     // URL path, "/" for RPC; "" counts as "/" (V3 signs it; V1 always signs "/")
	Query  url.Values // decoded query (form rules: '+' is space)
	Form   url.Values // decoded application/x-www-form-urlencoded body, nil if none; must come from Body
	// Header must carry the request's host under "Host": net/http moves it out of http.Request.Header
	// into http.Request.Host (FromHTTP puts it back).
	Header http.Header
	Body   []byte // raw body (V3 hashes it)
	// ReadOnly is set by the caller for a request whose action changes nothing (it is not read from the
	// request): while the Journal's store cannot be reached, its nonce is accepted on the Verifier's
	// in-memory record alone (Outage).
	ReadOnly bool
}

// FromHTTP reduces hr to a Request, using body as its already-read (and by the caller already bounded)
// body; hr.Body is not touched. The query and, when the content type is
// application/x-www-form-urlencoded, the body are decoded with form rules ('+' is space). The header is
// cloned and "Host" is set from hr.Host. A query or body that does not decode gives an
// InvalidParameter error.
func FromHTTP(hr *http.Request, body []byte) (*Request, error) {
	query, err := url.ParseQuery(hr.URL.RawQuery)
	if err != nil {
		return nil, badRequest(CodeInvalidParameter, "The query string is not well formed: "+err.Error())
	}
	var form url.Values
	if isForm(hr.Header.Get("Content-Type")) {
		form, err = url.ParseQuery(string(body))
		if err != nil {
			return nil, badRequest(CodeInvalidParameter, "The form body is not well formed: "+err.Error())
		}
	}
	h := hr.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if hr.Host != "" {
		h.Set("Host", hr.Host)
	}
	path := hr.URL.Path
	if path == "" {
		path = "/"
	}
	return &Request{Method: hr.Method, Path: path, Query: query, Form: form, Header: h, Body: body}, nil
}

func isForm(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// params merges Query and Form into one set. A key given more than once, in either or across both,
// is refused: the SDKs never send one (they sign maps), and with two values the handler could act on a
// value other than the one a reader of the signed string would assume.
func (r *Request) params() (url.Values, *Error) {
	merged := make(url.Values, len(r.Query)+len(r.Form))
	for _, src := range []url.Values{r.Query, r.Form} {
		for k, vs := range src {
			if len(vs) == 0 {
				continue
			}
			if len(vs) > 1 || merged[k] != nil {
				return nil, badRequest(CodeDuplicateParameter,
					"The parameter "+quote(k)+" is given more than once.")
			}
			merged[k] = vs
		}
	}
	return merged, nil
}

// lowerHeader maps lower-cased header names to their values, merging names that differ only in case.
func lowerHeader(h http.Header) map[string][]string {
	m := make(map[string][]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		m[lk] = append(m[lk], vs...)
	}
	return m
}

// quote shortens s for an error message and quotes it.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
