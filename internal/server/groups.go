package server

import (
	"log/slog"
	"slices"

	"github.com/moat-dev/moat/internal/allowlist"
)

func initialGroups() []allowlist.Group { return allowlist.Initial() }

// mergeGroups returns the stored groups with every group the config file declares replaced by (or added
// as) the declared one. The file's "default" group is the initial 127.0.0.1 unless the file declares it,
// so a stored default is kept unless declared. Groups only in the store (created through the API) stay.
// The notes are the log lines, for after the change is stored.
func mergeGroups(stored, declared []allowlist.Group) ([]allowlist.Group, []note) {
	out := slices.Clone(stored)
	var notes []note
	for _, d := range declared {
		i := slices.IndexFunc(out, func(g allowlist.Group) bool { return g.Name == d.Name })
		switch {
		case i < 0:
			out = append(out, d)
		case d.Name == allowlist.DefaultGroup && isInitial(d):
			// not declared in the file: keep what is stored
		case !slices.Equal(out[i].Entries, d.Entries) || out[i].Attribute != d.Attribute:
			notes = append(notes, note{slog.LevelInfo, "whitelist group set from the config file",
				[]any{"group", d.Name, "was", allowlist.FormatList(out[i].Entries), "now", allowlist.FormatList(d.Entries)}})
			out[i] = d
		}
	}
	return out, notes
}

func isInitial(g allowlist.Group) bool {
	init := allowlist.Initial()[0]
	return g.Attribute == "" && slices.Equal(g.Entries, init.Entries)
}
