package gateway

import "unsafe"

// Allocation-free helpers on the ASCII of RESP commands and replies.

func atoi(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

func appendInt(b []byte, n int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// lower returns args[i] lower-cased in buf, or "" when absent or longer than buf (no command name that
// matters here is). The string aliases buf, which must not change while the string is in use; this keeps
// command dispatch free of allocations.
func lower(args [][]byte, i int, buf *[16]byte) string {
	if i >= len(args) {
		return ""
	}
	return lowerInto(args[i], buf[:])
}

// lowerInto is lower for any buffer: a lower-cased in buf, or "" when a is longer than buf.
func lowerInto(a []byte, buf []byte) string {
	if len(a) > len(buf) || len(a) == 0 {
		return ""
	}
	for j, c := range a {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
	}
	return unsafe.String(&buf[0], len(a))
}
