package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineOf finds the line of a field path such as "instances[0].whitelist[1].ips" in a parsed document,
// falling back to the deepest node found; 0 when nothing matches.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		key, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			key = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		next := mapValue(n, key)
		if next == nil {
			return line
		}
		n, line = next, next.Line
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// decodeNode decodes n (the document, or a node in it) into v, a settable value of one of the file's
// types, as yaml's strict decoder would (unknown settings refused), except that it does not stop at the
// first problem: an unknown or repeated setting, or a value of the wrong type, is reported at its path
// and line, left at its zero value, and decoding goes on with the rest. A null value leaves v as it is,
// and a null list item is dropped, as yaml does. It uses reflection, which is fine at load time only.
func decodeNode(n *yaml.Node, path string, v reflect.Value, p *problems) {
	if !p.spend() {
		return
	}
	if isNull(n) {
		return
	}
	n = resolve(n)
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) > 0 {
			decodeNode(n.Content[0], path, v, p)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		decodeStruct(n, path, v, p)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.undecodable(n.Line, path, scalarValue(n), want(v.Type(), n))
			return
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, item := range n.Content {
			if isNull(item) {
				continue // as yaml does: "- " adds nothing
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			decodeNode(item, fmt.Sprintf("%s[%d]", path, i), elem, p)
			s = reflect.Append(s, elem)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.undecodable(n.Line, path, scalarValue(n), want(v.Type(), n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			kpath := join(path, k.Value)
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
				p.record(k.Line, path, "", "a name must be a plain word, not "+kindName(k))
				continue
			}
			if first, dup := seen[k.Value]; dup {
				p.record(k.Line, kpath, scalarValue(resolve(n.Content[i+1])), fmt.Sprintf("set twice (first on line %d)", first))
				continue
			}
			seen[k.Value] = k.Line
			val := reflect.New(v.Type().Elem()).Elem()
			decodeNode(n.Content[i+1], kpath, val, p)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), val)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind == yaml.ScalarNode && n.Tag != "!!binary" {
			v.SetString(n.Value) // what yaml does, without a decoder per value
			return
		}
		fallthrough
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			v.Set(reflect.Zero(v.Type())) // yaml may have allocated a pointer before failing
			p.undecodable(n.Line, path, scalarValue(n), want(v.Type(), n))
		}
	}
}

// decodeStruct decodes a mapping into a struct by the fields' yaml tags. Merge keys (<<: *anchor) are
// applied first, so that the mapping's own settings win, as in yaml.
func decodeStruct(n *yaml.Node, path string, v reflect.Value, p *problems) {
	if n.Kind != yaml.MappingNode {
		p.undecodable(n.Line, path, scalarValue(n), want(v.Type(), n))
		return
	}
	fields := map[string]int{}
	var known []string
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
		known = append(known, name)
	}
	seen := map[string]int{}
	for pass := 0; pass < 2; pass++ {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			merge := isMerge(k)
			if merge != (pass == 0) {
				continue
			}
			if merge {
				p.merge(val, path, v)
				continue
			}
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
				p.record(k.Line, path, "", "a setting's name must be a plain word, not "+kindName(k))
				continue
			}
			kpath := join(path, k.Value)
			f, ok := fields[k.Value]
			if !ok {
				p.undecodable(k.Line, kpath, "", "not a known setting (known: "+strings.Join(known, ", ")+")")
				continue
			}
			if first, dup := seen[k.Value]; dup {
				p.record(k.Line, kpath, scalarValue(resolve(n.Content[i+1])), fmt.Sprintf("set twice (first on line %d)", first))
				continue
			}
			seen[k.Value] = k.Line
			fv := v.Field(f)
			fv.Set(reflect.Zero(fv.Type())) // a merged value is replaced, not added to
			decodeNode(val, kpath, fv, p)
		}
	}
}

// merge applies the mappings of a merge key (one, or a list of which the earlier ones win) to the
// struct v. A mapping that merges itself, directly or not, is reported instead of followed for ever.
func (p *problems) merge(at *yaml.Node, path string, v reflect.Value) {
	if !p.spend() {
		return
	}
	val := resolve(at) // at is where the merge is written, val what it names
	if p.merging[val] {
		p.undecodable(at.Line, join(path, "<<"), "", "the merged mapping includes itself")
		return
	}
	if p.merging == nil {
		p.merging = map[*yaml.Node]bool{}
	}
	p.merging[val] = true
	defer delete(p.merging, val)
	switch val.Kind {
	case yaml.MappingNode:
		decodeStruct(val, path, v, p)
	case yaml.SequenceNode:
		for j := len(val.Content) - 1; j >= 0; j-- {
			p.merge(val.Content[j], path, v)
		}
	default:
		p.undecodable(at.Line, join(path, "<<"), scalarValue(val), "want a mapping (or a list of them) to merge")
	}
}

// isNull reports an empty value: null, ~, nothing at all, or an empty file (Kind 0).
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalarValue is the text of a scalar, for error messages; "" for lists and mappings.
func scalarValue(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

func kindName(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Tag == "!!null":
		return "empty"
	}
	return "a value"
}

// isMerge reports a merge key (<<), as yaml recognises one.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge")
}

// spend counts one value decoded, and reports false once the file has expanded, through aliases, to
// far more values than it holds (a few lines can name billions of values), after reporting it once.
func (p *problems) spend() bool {
	if p.budget == 0 {
		p.budget = 10000 + 100*countNodes(p.root)
	}
	if p.spent++; p.spent <= p.budget {
		return true
	}
	if p.spent == p.budget+1 {
		p.record(0, "", "", fmt.Sprintf("aliases expand the file to more than %d values", p.budget))
	}
	return false
}

// exhausted reports that decoding stopped at the budget: what was decoded is incomplete.
func (p *problems) exhausted() bool { return p.budget > 0 && p.spent > p.budget }

// countNodes counts the nodes of a document as written (an alias counts once).
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch)
	}
	return c
}

// want says what a field of type t takes, for an operator, and what n is when it is not a single value.
func want(t reflect.Type, n *yaml.Node) string {
	w := wantType(t)
	if n.Kind != yaml.ScalarNode {
		w += ", got " + kindName(n)
	}
	return w
}

func wantType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return wantType(t.Elem())
	case reflect.String:
		return "want a single value"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "want a whole number"
	case reflect.Bool:
		return "want true or false"
	case reflect.Slice:
		return "want a list"
	case reflect.Map:
		return "want a mapping of names to values"
	case reflect.Struct:
		return "want a mapping of settings"
	}
	return "wrong type"
}
