package engine

import (
	"bytes"
	"strconv"
)

// streamsAsMap turns the engine's RESP3 reply to XREAD and XREADGROUP, an array of [stream, entries]
// pairs, into the map Redis 7 sends (stream → entries). Any other reply is returned as it is.
func streamsAsMap(r []byte) []byte {
	n, pos, ok := aggregateHeader(r, 0, '*')
	if !ok {
		return r
	}
	out := strconv.AppendInt([]byte{'%'}, int64(n), 10)
	out = append(out, '\r', '\n')
	for range n {
		m, inner, ok := aggregateHeader(r, pos, '*')
		if !ok || m != 2 {
			return r
		}
		end, ok := skipValue(r, inner)
		if ok {
			end, ok = skipValue(r, end)
		}
		if !ok {
			return r
		}
		out = append(out, r[inner:end]...)
		pos = end
	}
	if pos != len(r) {
		return r
	}
	return out
}

// aggregateHeader reads "<typ>N\r\n" at i: N and where the elements start.
func aggregateHeader(r []byte, i int, typ byte) (int, int, bool) {
	if i >= len(r) || r[i] != typ {
		return 0, 0, false
	}
	end := bytes.Index(r[i:], []byte("\r\n"))
	if end < 0 {
		return 0, 0, false
	}
	n, err := strconv.Atoi(string(r[i+1 : i+end]))
	if err != nil || n < 0 {
		return 0, 0, false
	}
	return n, i + end + 2, true
}

// skipValue returns where the RESP value starting at i ends.
func skipValue(r []byte, i int) (int, bool) {
	if i >= len(r) {
		return 0, false
	}
	end := bytes.Index(r[i:], []byte("\r\n"))
	if end < 0 {
		return 0, false
	}
	line, next := r[i+1:i+end], i+end+2
	switch r[i] {
	case '+', '-', ':', ',', '_', '#', '(':
		return next, true
	case '$', '=', '!':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return 0, false
		}
		if n < 0 {
			return next, true
		}
		if next+n+2 > len(r) {
			return 0, false
		}
		return next + n + 2, true
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return 0, false
		}
		if r[i] == '%' || r[i] == '|' {
			n *= 2
		}
		for range max(n, 0) {
			var ok bool
			if next, ok = skipValue(r, next); !ok {
				return 0, false
			}
		}
		return next, true
	}
	return 0, false
}
