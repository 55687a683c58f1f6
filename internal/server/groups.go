package server

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/moat-dev/moat/internal/allowlist"
)

func initialGroups() []allowlist.Group { return allowlist.Initial() }

// groupsFromFile returns the stored groups of instance id with the config file's applied:
//   - every group the file declares replaces (or is added as) the stored one;
//   - a group the file declared before (was) and declares no more is removed — the default group, which
//     cannot be, goes back to the initial 127.0.0.1 — and a WARN says so;
//   - any other group was created through the API, and stays.
//
// Without a record of what the file declared before (known false: a data directory from before moat
// kept one), a group the file does not declare cannot be told from the API's: it stays, and a WARN
// names it and how to delete it. The notes are the log lines, for after the change is stored.
func groupsFromFile(stored, declared []allowlist.Group, was []string, known bool, id string) ([]allowlist.Group, []note) {
	out := slices.Clone(stored)
	var notes []note
	for _, d := range declared {
		i := slices.IndexFunc(out, func(g allowlist.Group) bool { return g.Name == d.Name })
		switch {
		case i < 0:
			notes = append(notes, note{slog.LevelInfo, "whitelist group added from the config file",
				[]any{"group", d.Name, "now", allowlist.FormatList(d.Entries)}})
			out = append(out, d)
		case !slices.Equal(out[i].Entries, d.Entries) || out[i].Attribute != d.Attribute:
			notes = append(notes, note{slog.LevelInfo, "whitelist group set from the config file",
				[]any{"group", d.Name, "was", allowlist.FormatList(out[i].Entries), "now", allowlist.FormatList(d.Entries)}})
			out[i] = d
		}
	}
	isDeclared := func(name string) bool {
		return slices.ContainsFunc(declared, func(d allowlist.Group) bool { return d.Name == name })
	}
	initial := allowlist.Initial()[0]
	kept := out[:0]
	for _, g := range out {
		switch {
		case isDeclared(g.Name):
		case slices.Contains(was, g.Name) && g.Name == allowlist.DefaultGroup:
			if g.Attribute != initial.Attribute || !slices.Equal(g.Entries, initial.Entries) {
				notes = append(notes, note{slog.LevelWarn, "whitelist group no longer in the config file: back to 127.0.0.1 (the default group cannot be removed)",
					[]any{"group", g.Name, "was", allowlist.FormatList(g.Entries)}})
				g = initial
			}
		case slices.Contains(was, g.Name):
			notes = append(notes, note{slog.LevelWarn, "whitelist group no longer in the config file: removed",
				[]any{"group", g.Name, "was", allowlist.FormatList(g.Entries)}})
			continue
		case !known && g.Name != allowlist.DefaultGroup:
			notes = append(notes, note{slog.LevelWarn, "whitelist group not declared in the config file is kept: moat cannot tell whether an earlier config file declared it or the API created it",
				[]any{"group", g.Name, "entries", allowlist.FormatList(g.Entries),
					"to_delete", "moat whitelist delete-group --instance " + id + " --group " + g.Name}})
		}
		kept = append(kept, g)
	}
	return kept, notes
}

// declaredFile, in the data directory, records the whitelist groups the config file declared for each
// instance when it was last applied, so that a group the file stops declaring can be told from one
// created through the API and removed (groupsFromFile). Each gateway keeps its own, beside its file.
const declaredFile = "config-declared.json"

// declaredRecord is declaredFile's contents: group names by instance ID.
type declaredRecord map[string][]string

// union returns the groups of r and of o, by instance.
func (r declaredRecord) union(o declaredRecord) declaredRecord {
	out := maps.Clone(r)
	if out == nil {
		out = declaredRecord{}
	}
	for id, names := range o {
		list := slices.Clone(out[id])
		for _, n := range names {
			if !slices.Contains(list, n) {
				list = append(list, n)
			}
		}
		out[id] = list
	}
	return out
}

// readDeclared reads declaredFile; nil when there is none (or it cannot be read, which is logged): then
// no instance's earlier declarations are known.
func (s *Server) readDeclared() declaredRecord {
	b, err := os.ReadFile(filepath.Join(s.opts.DataDir, declaredFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var r declaredRecord
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		s.log.Error("the record of the config file's declared groups is unreadable: groups it no longer declares are kept", "err", err)
		return nil
	}
	return r
}

// writeDeclared replaces declaredFile with r, atomically, unless it holds r already.
func (s *Server) writeDeclared(r declaredRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	path := filepath.Join(s.opts.DataDir, declaredFile)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(b) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
