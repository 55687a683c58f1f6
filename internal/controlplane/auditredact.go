package controlplane

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/moat-dev/moat/internal/redact"
)

// The audit log is readable with a Describe* policy (DescribeAuditLogs, `moat audit`, the console's
// Activity page), so it never holds a secret: every entry goes through redactEntry when it is written,
// and again when it is read (entries written by an older moat). What is secret in a state is known by
// its JSON field, wherever it appears: an instance's backend URL and ACL lines (password hashes), a
// requirepass parameter, an access key's secret.

// stateSecrets maps a state's field names to the kind of secret their string values hold; "acl" is
// a list of ACL lines.
var stateSecrets = map[string]redact.Kind{
	"backend":     redact.KindURL,
	"acl":         redact.KindACLLine,
	"requirepass": redact.KindPassword,
	"secret":      redact.KindPassword,
}

// redactEntry hides the secrets of e's states and error text, in place.
func redactEntry(e *AuditEntry) {
	e.Before = redactState(e.Before)
	e.After = redactState(e.After)
	e.Error = redact.Secret(redact.KindText, e.Error)
}

// redactRecord hides the secrets of an audit record read back (an AuditEntry or a FailedCall).
func redactRecord(r any) {
	switch r := r.(type) {
	case *AuditEntry:
		redactEntry(r)
	case *FailedCall:
		r.Error = redact.Secret(redact.KindText, r.Error)
	}
}

// redactState returns the JSON state s with the string values of stateSecrets' fields redacted, at
// any depth (inside lists too), keeping everything else as it was, field order included. A state that
// is not JSON is dropped whole: it cannot be judged.
func redactState(s json.RawMessage) json.RawMessage {
	if len(s) == 0 {
		return s
	}
	if !json.Valid(s) { // one value, nothing after it (a Decoder would take "0 0" as two)
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(s))
	d.UseNumber()
	var out bytes.Buffer
	var stack []stateFrame
	for {
		tok, err := d.Token()
		if err == io.EOF && len(stack) == 0 {
			break
		}
		if err != nil {
			return nil
		}
		isKey := len(stack) > 0 && stack[len(stack)-1].obj && stack[len(stack)-1].n%2 == 0
		kind := slotKind(stack)
		if delim, ok := tok.(json.Delim); ok && (delim == '}' || delim == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(delim))
			continue
		}
		separate(&out, stack)
		switch t := tok.(type) {
		case json.Delim:
			stack = append(stack, stateFrame{obj: t == '{', kind: kind})
			out.WriteByte(byte(t))
			continue
		case string:
			if isKey {
				stack[len(stack)-1].key = keyKind(t)
			} else if kind >= 0 {
				t = redact.Secret(kind, t)
			}
			tok = t
		}
		b, err := json.Marshal(tok)
		if err != nil {
			return nil
		}
		out.Write(b)
	}
	return out.Bytes()
}

// stateFrame is an object or array being rewritten: n values written (keys count in objects), the
// kind of the array's elements or of the current field's value.
type stateFrame struct {
	obj  bool
	n    int
	kind redact.Kind // an array's elements: the kind of the field that holds it
	key  redact.Kind // an object's current field
}

// separate writes the ',' or ':' due before the next token and counts it.
func separate(out *bytes.Buffer, stack []stateFrame) {
	if len(stack) == 0 {
		return
	}
	f := &stack[len(stack)-1]
	switch {
	case f.obj && f.n%2 == 1:
		out.WriteByte(':')
	case f.n > 0:
		out.WriteByte(',')
	}
	f.n++
}

// slotKind is the kind of the value read next: its field's, or its array's (-1: not secret).
func slotKind(stack []stateFrame) redact.Kind {
	if len(stack) == 0 {
		return -1
	}
	f := stack[len(stack)-1]
	if f.obj {
		return f.key
	}
	return f.kind
}

func keyKind(name string) redact.Kind {
	if k, ok := stateSecrets[name]; ok {
		return k
	}
	return -1
}
