package acl

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

//go:generate go run ./gen -o commands.json

// commandsJSON is the command table generated once from redis-server 7.0.15's COMMAND reply by ./gen
// (see doc.go for how to regenerate it).
//
//go:embed commands.json
var commandsJSON []byte

// tableFile is the format of commands.json.
type tableFile struct {
	Source   string     `json:"source"`
	Commands []*Command `json:"commands"`
}

// LoadDefault returns the committed table of redis-server 7.0.15, for backends that cannot answer
// COMMAND (the embedded engine, old servers). Each call parses the embedded data afresh (a few
// milliseconds); call it once and share the result.
func LoadDefault() (*Table, error) {
	return ParseJSON(commandsJSON)
}

// ParseJSON reads a table in the format of commands.json.
func ParseJSON(data []byte) (*Table, error) {
	var f tableFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("acl: command table: %w", err)
	}
	t, err := newTable(f.Source, f.Commands)
	if err != nil {
		return nil, fmt.Errorf("acl: command table: %w", err)
	}
	return t, nil
}

// MarshalJSON writes the table in the format of commands.json: one command per line, sorted by name.
func (t *Table) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	src, _ := json.Marshal(t.Source)
	b.WriteString("{\"source\":" + string(src) + ",\"commands\":[\n")
	for i, c := range t.Commands() {
		line, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		b.Write(line)
	}
	b.WriteString("\n]}\n")
	return []byte(b.String()), nil
}

// ReadCommandReply reads a backend's reply to COMMAND (RESP2 or RESP3) from r and builds a table from it.
func ReadCommandReply(r *bufio.Reader, source string) (*Table, error) {
	v, err := ReadValue(r)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("acl: COMMAND reply: %w", err)
	}
	return FromCommandReply(v, source)
}

// FromCommandReply builds a table from a parsed COMMAND reply: an array of 10-element command entries
// (name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands; §2.10).
// Entries of older servers with fewer elements get no categories or key specs. It gives the same table
// as commands.json when the reply comes from redis-server 7.0.15.
func FromCommandReply(v Value, source string) (*Table, error) {
	if v.Kind == KindError {
		return nil, fmt.Errorf("acl: COMMAND reply: error %q", v.Str)
	}
	if !v.IsAggregate() || v.Kind == KindMap {
		return nil, fmt.Errorf("acl: COMMAND reply: not an array")
	}
	cmds := make([]*Command, 0, len(v.Elems))
	for i, e := range v.Elems {
		c, err := commandFromReply(e)
		if err != nil {
			return nil, fmt.Errorf("acl: COMMAND reply: entry %d: %w", i, err)
		}
		cmds = append(cmds, c)
	}
	t, err := newTable(source, cmds)
	if err != nil {
		return nil, fmt.Errorf("acl: COMMAND reply: %w", err)
	}
	return t, nil
}

func commandFromReply(v Value) (*Command, error) {
	if !v.IsAggregate() || v.Kind == KindMap || len(v.Elems) < 6 {
		return nil, fmt.Errorf("not a command entry: %s", v)
	}
	e := v.Elems
	name, ok := e[0].Text()
	if !ok {
		return nil, fmt.Errorf("name is %s", e[0])
	}
	c := &Command{Name: name}
	ints := []*int{&c.Arity, nil, &c.FirstKey, &c.LastKey, &c.Step}
	for i, p := range ints {
		if p == nil {
			continue
		}
		if e[i+1].Kind != KindInt {
			return nil, fmt.Errorf("%s: element %d is %s, want an integer", name, i+2, e[i+1])
		}
		*p = int(e[i+1].Int)
	}
	var err error
	if c.Flags, err = texts(e[2]); err != nil {
		return nil, fmt.Errorf("%s: flags: %w", name, err)
	}
	if len(e) > 6 {
		if c.Categories, err = texts(e[6]); err != nil {
			return nil, fmt.Errorf("%s: categories: %w", name, err)
		}
	}
	if len(e) > 8 {
		if !e[8].IsAggregate() {
			return nil, fmt.Errorf("%s: key specs: %s", name, e[8])
		}
		for i, ks := range e[8].Elems {
			spec, err := keySpecFromReply(ks)
			if err != nil {
				return nil, fmt.Errorf("%s: key spec %d: %w", name, i, err)
			}
			c.KeySpecs = append(c.KeySpecs, spec)
		}
	}
	if len(e) > 9 {
		if !e[9].IsAggregate() {
			return nil, fmt.Errorf("%s: subcommands: %s", name, e[9])
		}
		for _, se := range e[9].Elems {
			sc, err := commandFromReply(se)
			if err != nil {
				return nil, fmt.Errorf("%s: subcommand: %w", name, err)
			}
			c.Subcommands = append(c.Subcommands, sc)
		}
	}
	return c, nil
}

func keySpecFromReply(v Value) (KeySpec, error) {
	var ks KeySpec
	pairs, ok := v.Pairs()
	if !ok {
		return ks, fmt.Errorf("not a map: %s", v)
	}
	for i := 0; i < len(pairs); i += 2 {
		k, _ := pairs[i].Text()
		val := pairs[i+1]
		var err error
		switch k {
		case "flags":
			ks.Flags, err = texts(val)
		case "begin_search":
			err = searchFromReply(val, func(typ string, spec map[string]Value) error {
				ks.BeginSearch.Type = typ
				ks.BeginSearch.Index, _ = intField(spec, "index")
				ks.BeginSearch.StartFrom, _ = intField(spec, "startfrom")
				if kw, ok := spec["keyword"]; ok {
					ks.BeginSearch.Keyword, _ = kw.Text()
				}
				return nil
			})
		case "find_keys":
			err = searchFromReply(val, func(typ string, spec map[string]Value) error {
				fk := &ks.FindKeys
				fk.Type = typ
				fk.LastKey, _ = intField(spec, "lastkey")
				fk.KeyStep, _ = intField(spec, "keystep")
				fk.Limit, _ = intField(spec, "limit")
				fk.KeyNumIdx, _ = intField(spec, "keynumidx")
				fk.FirstKey, _ = intField(spec, "firstkey")
				return nil
			})
		}
		if err != nil {
			return ks, fmt.Errorf("%s: %w", k, err)
		}
	}
	if ks.BeginSearch.Type == "" || ks.FindKeys.Type == "" {
		return ks, fmt.Errorf("missing begin_search or find_keys: %s", v)
	}
	return ks, nil
}

// searchFromReply reads {type: t, spec: {…}} and hands the spec's fields to f.
func searchFromReply(v Value, f func(typ string, spec map[string]Value) error) error {
	pairs, ok := v.Pairs()
	if !ok {
		return fmt.Errorf("not a map: %s", v)
	}
	typ := ""
	spec := map[string]Value{}
	for i := 0; i < len(pairs); i += 2 {
		k, _ := pairs[i].Text()
		switch k {
		case "type":
			typ, _ = pairs[i+1].Text()
		case "spec":
			sp, ok := pairs[i+1].Pairs()
			if !ok && pairs[i+1].Kind != KindNull {
				return fmt.Errorf("spec is %s", pairs[i+1])
			}
			for j := 0; j < len(sp); j += 2 {
				sk, _ := sp[j].Text()
				spec[sk] = sp[j+1]
			}
		}
	}
	if typ == "" {
		return fmt.Errorf("no type: %s", v)
	}
	return f(typ, spec)
}

func intField(m map[string]Value, k string) (int, bool) {
	v, ok := m[k]
	if !ok || v.Kind != KindInt {
		return 0, false
	}
	return int(v.Int), true
}

// texts reads an array or set of simple or bulk strings.
func texts(v Value) ([]string, error) {
	if !v.IsAggregate() || v.Kind == KindMap {
		return nil, fmt.Errorf("not an array: %s", v)
	}
	var out []string
	for _, e := range v.Elems {
		s, ok := e.Text()
		if !ok {
			return nil, fmt.Errorf("not a string: %s", e)
		}
		out = append(out, s)
	}
	return out, nil
}
