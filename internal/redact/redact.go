// Package redact is the one place where moat hides secrets in what it writes out. A log line, an audit
// entry, an API answer, a metric label or a console page shows a secret-bearing value only after it
// went through Secret, the one redaction function, with the kind of value it is:
//
//	KindURL       a backend spec or any URL: the userinfo password and the values of query
//	              parameters that are not known to be public ("password=…") become Mask
//	KindACLRule   one ACL rule: a password or its hash (">pw", "<pw", "#hash", "!hash") becomes
//	              its sign followed by Mask; other rules are kept
//	KindACLLine   an ACL LIST line ("user name rules…"): every rule as KindACLRule
//	KindPassword  a value that is a secret as a whole (requirepass, an access key secret): Mask,
//	              or "" when it is empty
//	KindText      free text that may quote any of the above (an error, a log message): every URL
//	              inside it as KindURL
//
// Mask is chosen so that a masked value is never valid where the secret was: "#xxxxx" is not a
// SHA-256 hash, so a masked ACL line fed back to ACL SETUSER or ImportACL is refused rather than
// taken as a password.
package redact

import (
	"strings"
)

// Mask replaces every secret.
const Mask = "xxxxx"

// Kind says what a value is, and so what of it is secret.
type Kind int

// The kinds of secret-bearing values (see the package comment).
const (
	KindURL Kind = iota
	KindACLRule
	KindACLLine
	KindPassword
	KindText
)

// Secret returns v with what is secret in a value of kind k replaced by Mask. It is pure and safe for
// concurrent use; a value with nothing secret in it comes back unchanged.
func Secret(k Kind, v string) string {
	switch k {
	case KindURL:
		return url(v)
	case KindACLRule:
		return aclRule(v)
	case KindACLLine:
		f := strings.Split(v, " ")
		for i := range f {
			f[i] = aclRule(f[i])
		}
		return strings.Join(f, " ")
	case KindPassword:
		if v == "" {
			return ""
		}
		return Mask
	case KindText:
		return text(v)
	default:
		return Mask // an unknown kind: hide it all
	}
}

// publicParams are the query parameters of a backend spec whose values are not secret.
var publicParams = map[string]bool{"db": true, "user": true, "sni": true, "insecure_skip_verify": true,
	"ca_cert": true, "client_cert": true, "client_key": true} // file paths, not secrets

// url hides the password in a URL that may not parse: the part of the userinfo after the first ':'
// (up to the last '@') and the value of every query parameter but those in publicParams (unknown ones too: "pass=",
// "passwd=" are likely typos of password).
func url(s string) string {
	out := s
	// The userinfo follows "://"; in a string without it (":pw@host", "redis:/:pw@host", "//:pw@host")
	// whatever precedes the last '@' may be, and is masked from its first ':'.
	start := 0
	if i := strings.Index(out, "://"); i >= 0 {
		start = i + 3
	}
	rest := out[start:]
	// A password written without percent-encoding may hold '/', '?' or '#': the userinfo runs to the
	// last '@' (a path or query holding '@' and ':' is over-masked, never under-masked).
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if c := strings.Index(rest[:at], ":"); c >= 0 {
			rest = rest[:c+1] + Mask + rest[at:]
		}
	}
	out = out[:start] + rest
	if q := strings.Index(out, "?"); q >= 0 {
		parts := strings.Split(out[q+1:], "&")
		for i, p := range parts {
			if k, v, ok := strings.Cut(p, "="); ok && v != "" && v != Mask && !publicParams[strings.ToLower(k)] {
				parts[i] = k + "=" + Mask
			}
		}
		out = out[:q+1] + strings.Join(parts, "&")
	}
	return out
}

// aclRule masks a password rule, also as the first word of a selector ("(>pw").
func aclRule(r string) string {
	lead := len(r) - len(strings.TrimLeft(r, "("))
	body := r[lead:]
	if len(body) < 2 || !strings.ContainsRune("><#!", rune(body[0])) {
		return r
	}
	trail := len(body) - len(strings.TrimRight(body, ")"))
	if len(body)-trail < 2 {
		return r
	}
	return r[:lead] + body[:1] + Mask + body[len(body)-trail:]
}

// text masks every URL in free text: each run of characters that holds "://", from after the
// space, quote, '(', '<', '[', '=' or ',' before it to the next space or quote (not a bracket or a
// comma: a password may hold those).
func text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			break
		}
		start := strings.LastIndexAny(s[:i], " \t\n\"'`(<[=,") + 1
		end := i + strings.IndexAny(s[i:]+" ", " \t\n\"'`")
		b.WriteString(s[:start])
		b.WriteString(url(s[start:end]))
		s = s[end:]
	}
	return b.String()
}
