package api

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
)

// JSONErrors wraps the API's listener so that the answers net/http writes by itself, before any
// handler runs, reach clients as the provider's JSON errors (RequestId, HostId, Code, Message,
// Recommend; codes in errors.go) instead of plain text: a request line or headers over the server's
// MaxHeaderBytes (431), a request that is not HTTP/1.x or names no valid method, Host or header (400),
// an unsupported HTTP version (505), Transfer-Encoding (501) or Expect (417), and, when a TLS listener
// is stacked on top of it (tls.NewListener(JSONErrors(ln), cfg)), plain HTTP sent to it (400). The
// connection is closed after such an answer, as net/http closes it.
//
// It recognises these answers by their exact shape — a single write that is the whole canned
// response — which a handler's response never has (net/http writes a handler's headers in sorted
// order, with a Date). Everything else is passed through untouched. HostId is the address the client
// connected to (no Host header was read).
func JSONErrors(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

// jsonErrorConn is one accepted connection; see JSONErrors. It is used as net/http uses a conn: one
// writer at a time.
type jsonErrorConn struct{ net.Conn }

// Write passes p on, or the JSON answer instead when p is one of net/http's own. It reports len(p)
// written when the replacement was.
func (c *jsonErrorConn) Write(p []byte) (int, error) {
	e := cannedError(p)
	if e == nil {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(RawError(e, c.LocalAddr().String(), "")); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RawError is a whole HTTP/1.1 answer (Connection: close) carrying e as the provider's JSON error, with
// extra header lines (each ending in CRLF), for answers written on a connection that net/http never
// reads: over a connection cap, or in place of net/http's own plain-text answers.
func RawError(e *Error, host, extra string) []byte {
	body := errorJSON(newRequestID(), host, "", e)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status) + "\r\n")
	b.WriteString("Content-Type: " + jsonContentType + "\r\n" + extra)
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// CloseWrite half-closes the connection when the underlying one can (net/http does it after a 431 so
// that the client reads the answer rather than a reset).
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// The shapes of net/http's own answers (net/http/server.go: conn.serve, response.sendExpectationFailed).
const (
	cannedHeaders  = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	httpToHTTPS    = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
	expectFailed   = "HTTP/1.1 417 Expectation Failed\r\n"
	maxCannedWrite = 1024
)

// cannedError returns the API error for p if p is a whole answer net/http wrote by itself, else nil.
func cannedError(p []byte) *Error {
	if len(p) > maxCannedWrite {
		return nil
	}
	if string(p) == httpToHTTPS {
		return errHTTPToHTTPS
	}
	if bytes.HasPrefix(p, []byte(expectFailed)) && bytes.HasSuffix(p, []byte("\r\n\r\n")) {
		return errExpectation
	}
	line, rest, ok := bytes.Cut(p, []byte("\r\n"))
	headers := cannedHeaders[len("\r\n"):] // what follows the status line's end
	if !ok || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) || len(line) < len("HTTP/1.1 400") ||
		!bytes.HasPrefix(rest, []byte(headers)) {
		return nil
	}
	switch string(line[len("HTTP/1.1 "):len("HTTP/1.1 400")]) {
	case "431":
		return errHeaderTooLarge
	case "505":
		return errHTTPVersion
	case "501":
		return ErrTransferEncoding
	default:
		return malformed(string(rest[len(headers):]))
	}
}

// malformed is errMalformedHTTP, saying what net/http found wrong when its text names one of its
// fixed reasons ("400 Bad Request: missing required Host header"): letters and spaces only, so no
// part of the request is echoed.
func malformed(text string) *Error {
	_, reason, ok := bytes.Cut([]byte(text), []byte(": "))
	if !ok || len(reason) == 0 || bytes.ContainsFunc(reason, func(r rune) bool {
		return r != ' ' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	}) {
		return errMalformedHTTP
	}
	e := *errMalformedHTTP
	e.Message += " (" + string(reason) + ")"
	return &e
}
