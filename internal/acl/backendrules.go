package acl

import "strings"

// BackendRules is the user's permissions as ACL SETUSER rules for a backend ACL user that stands in for
// it (the gateway's per-user identities): the root selector's keys, channels and command rules, then
// each further selector as one "(…)" argument, with "-<name>" appended to every selector for each of
// deny (commands the instance removed or renamed). Flags and passwords are left out: the caller sets
// its own ("reset", "on", its password). The rules give the same permissions when re-parsed.
func (u *User) BackendRules(deny []string) []string {
	var out []string
	out = append(out, strings.Fields(u.root.describe(u.table))...)
	for _, d := range deny {
		out = append(out, "-"+d)
	}
	for _, s := range u.selectors {
		var b strings.Builder
		b.WriteString("(" + strings.TrimSpace(s.describe(u.table)))
		for _, d := range deny {
			b.WriteString(" -" + d)
		}
		b.WriteByte(')')
		out = append(out, b.String())
	}
	return out
}
