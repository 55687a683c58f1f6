package sign

import (
	"net/url"
	"slices"
	"strings"
)

// percentEncode encodes s per RFC 3986 as both signature schemes require: the unreserved bytes
// A-Z a-z 0-9 - _ . ~ stay, every other byte (UTF-8 multi-byte sequences byte by byte) becomes %XY
// with upper-case hex. So space is %20 (never +), * is %2A and ~ stays.
func percentEncode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// canonicalQuery joins enc(key)=enc(value) with "&", keys sorted by their raw bytes (as the SDKs do:
// url.Values.Encode sorts before escaping), each key's values in their given order, a key with an empty
// value as "key=". Keys with no values at all, and the key skip, are left out.
func canonicalQuery(params url.Values, skip string) string {
	keys := make([]string, 0, len(params))
	for k, vs := range params {
		if k != skip && len(vs) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		ek := percentEncode(k)
		for _, v := range params[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(ek)
			b.WriteByte('=')
			b.WriteString(percentEncode(v))
		}
	}
	return b.String()
}
