package acl

import (
	"slices"
	"strconv"
	"strings"
	"weak"
)

// What a user set knows of the set it was made from, so that a change to one user among thousands is
// carried to the data plane as that user alone (issue 20): ReparseACLLines reads only the lines that
// changed (patchLines) and records which users they are; WithScriptsNeedAllKeys and the gateway's
// backend identities then copy and describe those users alone (ChangedFrom).

// ChangedFrom returns the names of the users that differ between from and us — added, deleted or
// replaced — when us is known to be from with those users changed and nothing else (us was made from
// from by ReparseACLLines or WithScriptsNeedAllKeys, and neither set has been changed since); ok is false
// when that is not known, and the caller must compare every user. Every other user of us is the same
// *User as in from. The names are sorted and distinct.
func (us *Users) ChangedFrom(from *Users) (names []string, ok bool) {
	if us == nil || from == nil || us.parent.Value() != from || from.mutated {
		return nil, false
	}
	return us.changed, true
}

// derived records on us (made by changing the users names of from) what ChangedFrom reports. from is
// held weakly: a chain of sets does not keep the old ones alive.
func (us *Users) derived(from *Users, names []string) {
	slices.Sort(names)
	us.parent, us.changed = weak.Make(from), slices.Clip(slices.Compact(names))
}

// changedInPlace is called by every change made to us itself: what us was read from and made from no
// longer describes it.
func (us *Users) changedInPlace() {
	us.parent, us.changed, us.mutated = weak.Pointer[Users]{}, nil, true
}

// editedInPlace is changedInPlace by setting or deleting the user name: its line in src, if any, no
// longer holds it.
func (us *Users) editedInPlace(name string) {
	us.changedInPlace()
	if us.src == nil {
		return
	}
	if us.edited == nil {
		us.edited = map[string]bool{}
	}
	us.edited[name] = true
}

// lineUser is the user line (one of src) holds: the user of the line's name when it is not edited
// since; nil for a blank line, or when that user was edited.
func (us *Users) lineUser(line string) *User {
	rest, ok := strings.CutPrefix(strings.Trim(line, " \t\r\n"), "user ")
	if !ok {
		return nil
	}
	name, _, _ := strings.Cut(rest, " ")
	if us.edited[name] {
		return nil
	}
	return us.m.get(name)
}

// patchLines is ReparseACLLines of lines when prev was read from prev.src with the same table and
// settings, and the lines that differ (those between the common first and last lines) all read without
// error: prev's users with the lines of the difference removed, then those lines read (prev itself when
// no line differs). Nil when that
// does not hold (an error, a duplicate, a line holding a newline or NUL, a "default" line taken or
// added): the caller reads every line, which reports errors as ACL LOAD does.
func (prev *Users) patchLines(t *Table, cfg Config, filename string, lines []string) *Users {
	if prev == nil || prev.mutated || prev.src == nil || prev.table != t || prev.cfg != cfg {
		return nil
	}
	old := prev.src
	n := min(len(old), len(lines))
	head := 0
	for head < n && old[head] == lines[head] {
		head++
	}
	if head == len(old) && head == len(lines) {
		return prev // the same lines: the same users
	}
	tail := 0
	for tail < n-head && old[len(old)-1-tail] == lines[len(lines)-1-tail] {
		tail++
	}
	added := lines[head : len(lines)-tail]
	us := &Users{table: t, cfg: cfg, m: prev.m.clone(), src: lines}
	var names []string
	for _, line := range old[head : len(old)-tail] {
		u := prev.lineUser(line) // every line but a blank one holds a user: prev was read without error
		if u == nil {
			continue
		}
		if u.name == "default" {
			return nil // prev's default may have come from no line at all: parseLines knows
		}
		us.m.del(u.name)
		names = append(names, u.name)
	}
	var errs strings.Builder
	for i, line := range added {
		if strings.IndexByte(line, '\n') >= 0 || strings.IndexByte(line, 0) >= 0 {
			return nil
		}
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		linenum := strconv.Itoa(head + i + 1)
		argv := userLine(filename, linenum, line, &errs)
		if argv == nil || argv[1] == "default" || us.m.get(argv[1]) != nil {
			return nil
		}
		u := newUser(t, argv[1], cfg)
		applyLine(u, cfg, filename, linenum, argv, &errs)
		if errs.Len() > 0 {
			return nil
		}
		us.m.set(u.name, u)
		names = append(names, u.name)
	}
	us.derived(prev, names)
	return us
}
