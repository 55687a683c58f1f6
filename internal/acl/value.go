package acl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Kind is the RESP type of a Value.
type Kind uint8

// The RESP2 and RESP3 types ReadValue understands. Map, Set and Push hold their elements in Elems (a map
// as key, value, key, value…). Attributes (RESP3 '|') are read and dropped.
const (
	KindSimple Kind = iota + 1
	KindError
	KindInt
	KindBulk
	KindNull
	KindArray
	KindMap
	KindSet
	KindPush
	KindDouble
	KindBool
	KindBigNum
	KindVerbatim
)

// Value is one parsed reply from a backend: the loader reads the backend's COMMAND reply with it, and
// tests read redis-server's replies with it. It is not used on the hot path.
type Value struct {
	Kind  Kind
	Str   string  // Simple, Error, Bulk, Verbatim (without its "txt:" prefix), Double, BigNum
	Int   int64   // Int; Bool as 0/1
	Elems []Value // Array, Set, Push; Map as k, v, k, v…
}

// Bounds on what ReadValue accepts; a COMMAND reply of redis-server 7.0.15 is about 150 KB deep 6.
const (
	maxValueDepth = 16
	maxValueElems = 1 << 20
	maxValueBulk  = 64 << 20
)

// errValue reports a reply that is not valid RESP.
var errValue = errors.New("acl: invalid RESP reply")

// ReadValue reads one complete reply. It accepts RESP2 and RESP3 and bounds nesting, element counts and
// string lengths. io.EOF means r ended before a reply began.
func ReadValue(r *bufio.Reader) (Value, error) {
	return readValue(r, 0)
}

func readValue(r *bufio.Reader, depth int) (Value, error) {
	if depth > maxValueDepth {
		return Value{}, fmt.Errorf("%w: nested deeper than %d", errValue, maxValueDepth)
	}
	line, err := readLine(r)
	if err != nil {
		if depth > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, fmt.Errorf("%w: empty line", errValue)
	}
	body := string(line[1:])
	switch line[0] {
	case '+':
		return Value{Kind: KindSimple, Str: body}, nil
	case '-':
		return Value{Kind: KindError, Str: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("%w: integer %q", errValue, body)
		}
		return Value{Kind: KindInt, Int: n}, nil
	case ',':
		return Value{Kind: KindDouble, Str: body}, nil
	case '(':
		return Value{Kind: KindBigNum, Str: body}, nil
	case '#':
		return Value{Kind: KindBool, Int: b2i(body == "t")}, nil
	case '_':
		return Value{Kind: KindNull}, nil
	case '$', '=', '!':
		return readBulk(r, line[0], body)
	case '*', '~', '>', '%', '|':
		return readAggregate(r, line[0], body, depth)
	}
	return Value{}, fmt.Errorf("%w: type byte %q", errValue, line[0])
}

func readBulk(r *bufio.Reader, t byte, body string) (Value, error) {
	n, err := strconv.ParseInt(body, 10, 64)
	if err != nil || n < -1 || n > maxValueBulk {
		return Value{}, fmt.Errorf("%w: bulk length %q", errValue, body)
	}
	if n == -1 {
		return Value{Kind: KindNull}, nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Value{}, io.ErrUnexpectedEOF
	}
	if buf[n] != '\r' || buf[n+1] != '\n' {
		return Value{}, fmt.Errorf("%w: bulk not followed by CRLF", errValue)
	}
	s := string(buf[:n])
	switch t {
	case '!':
		return Value{Kind: KindError, Str: s}, nil
	case '=':
		if len(s) >= 4 && s[3] == ':' {
			s = s[4:]
		}
		return Value{Kind: KindVerbatim, Str: s}, nil
	}
	return Value{Kind: KindBulk, Str: s}, nil
}

func readAggregate(r *bufio.Reader, t byte, body string, depth int) (Value, error) {
	n, err := strconv.ParseInt(body, 10, 64)
	if err != nil || n < -1 || n > maxValueElems {
		return Value{}, fmt.Errorf("%w: aggregate length %q", errValue, body)
	}
	if n == -1 {
		return Value{Kind: KindNull}, nil
	}
	count := int(n)
	if t == '%' || t == '|' {
		count *= 2
	}
	elems := make([]Value, 0, min(count, 1024))
	for range count {
		v, err := readValue(r, depth+1)
		if err != nil {
			return Value{}, err
		}
		elems = append(elems, v)
	}
	switch t {
	case '~':
		return Value{Kind: KindSet, Elems: elems}, nil
	case '>':
		return Value{Kind: KindPush, Elems: elems}, nil
	case '%':
		return Value{Kind: KindMap, Elems: elems}, nil
	case '|': // an attribute precedes the real reply: drop it
		return readValue(r, depth)
	}
	return Value{Kind: KindArray, Elems: elems}, nil
}

// readLine returns one line without its CRLF.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: line longer than %d bytes", errValue, r.Size())
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errValue)
	}
	return line[:len(line)-2], nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// IsAggregate reports an Array, Set, Push or Map.
func (v Value) IsAggregate() bool {
	return v.Kind == KindArray || v.Kind == KindSet || v.Kind == KindPush || v.Kind == KindMap
}

// Pairs returns the key/value pairs of a map: a RESP3 map, or a RESP2 array of even length (how RESP2
// encodes maps). ok is false for anything else.
func (v Value) Pairs() (pairs []Value, ok bool) {
	if (v.Kind == KindMap || v.Kind == KindArray) && len(v.Elems)%2 == 0 {
		return v.Elems, true
	}
	return nil, false
}

// Text returns the string of a Simple, Bulk or Verbatim value.
func (v Value) Text() (string, bool) {
	switch v.Kind {
	case KindSimple, KindBulk, KindVerbatim:
		return v.Str, true
	}
	return "", false
}

// String renders v for failure messages.
func (v Value) String() string {
	switch v.Kind {
	case KindSimple, KindBulk, KindVerbatim, KindDouble, KindBigNum:
		return strconv.Quote(v.Str)
	case KindError:
		return "(error " + strconv.Quote(v.Str) + ")"
	case KindInt, KindBool:
		return strconv.FormatInt(v.Int, 10)
	case KindNull:
		return "(nil)"
	}
	s := "["
	for i, e := range v.Elems {
		if i > 0 {
			s += " "
		}
		s += e.String()
	}
	return s + "]"
}
