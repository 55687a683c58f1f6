package acl

import (
	"bytes"
	"strconv"
	"strings"
)

// ParseACLFile reads an aclfile (§2.6) the way ACL LOAD does (ACLLoadFromFile, 7.0.15) and returns the
// new user set; the caller swaps it in whole. filename only appears in error texts. On any error nothing
// is returned and the error is ACL LOAD's reply: every problem found, "<file>:<line>: …", followed by
// "WARNING: ACL errors detected, no change to the previously active ACL rules was performed".
//
// One user per line, "user <name> <rules…>", words separated by single spaces; blank lines are skipped;
// there are no comments. A file without a "default" user gets a fresh "on nopass ~* &* +@all" one. Like
// Redis (which reads the file with fgets), a NUL byte ends its 1023-byte read chunk.
func ParseACLFile(t *Table, cfg Config, filename string, data []byte) (*Users, error) {
	return ReparseACLFile(nil, t, cfg, filename, data)
}

// ReparseACLFile is ParseACLFile for a file that differs little from the one prev was read from: a user
// whose line is the same as the line prev read it from, and who has not changed in prev since, is taken
// over from prev as it is (users are immutable) rather than compiled again. prev may be nil; it is not
// changed, and its users are reused only when it was read with the same table and settings.
func ReparseACLFile(prev *Users, t *Table, cfg Config, filename string, data []byte) (*Users, error) {
	return ReparseACLText(prev, t, cfg, filename, string(data))
}

// ReparseACLText is ReparseACLFile for a file given as a string (not copied again).
func ReparseACLText(prev *Users, t *Table, cfg Config, filename, data string) (*Users, error) {
	return parseLines(prev, t, cfg, filename, strings.Split(fgetsText(data), "\n"))
}

// ReparseACLLines is ReparseACLText of the lines joined with "\n", without joining them when no line
// holds a newline or a NUL byte (which fgets would read otherwise). When prev was itself read from lines
// (unchanged since), only the lines between the first and the last that differ are read (patchLines):
// the result is the same, and says which users changed (ChangedFrom); it is prev itself when no line
// differs. The result keeps lines: the caller must not change them after.
func ReparseACLLines(prev *Users, t *Table, cfg Config, filename string, lines []string) (*Users, error) {
	if us := prev.patchLines(t, cfg, filename, lines); us != nil {
		return us, nil
	}
	for _, l := range lines {
		if strings.IndexByte(l, '\n') >= 0 || strings.IndexByte(l, 0) >= 0 {
			return ReparseACLText(prev, t, cfg, filename, strings.Join(lines, "\n"))
		}
	}
	return parseLines(prev, t, cfg, filename, lines)
}

// parseLines is ReparseACLFile of the file's lines as fgets reads them.
func parseLines(prev *Users, t *Table, cfg Config, filename string, lines []string) (*Users, error) {
	us := &Users{table: t, cfg: cfg, m: newUserMap(len(lines)), src: lines}
	var reuse map[string]*User
	if prev != nil && prev.table == t && prev.cfg == cfg {
		reuse = prev.byLine()
	}
	var errs strings.Builder
	for i, line := range lines {
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		if u := reuse[line]; u != nil && us.m.get(u.name) == nil {
			us.m.set(u.name, u)
			continue
		}
		linenum := strconv.Itoa(i + 1)
		argv := userLine(filename, linenum, line, &errs)
		if argv == nil {
			continue
		}
		if us.m.get(argv[1]) != nil {
			errs.WriteString("WARNING: Duplicate user '" + argv[1] + "' found on line " + linenum + ". ")
			continue
		}
		u := newUser(t, argv[1], cfg)
		us.m.set(u.name, u)
		applyLine(u, cfg, filename, linenum, argv, &errs)
	}
	if errs.Len() > 0 {
		return nil, replyErr(replyACLFileErrors(errs.String()))
	}
	us.addFreshDefault()
	return us, nil
}

// userLine splits a trimmed, non-blank line into its words when it is "user <name> …" with a valid
// name; else it writes ACL LOAD's text for the line to errs and returns nil.
func userLine(filename, linenum, line string, errs *strings.Builder) []string {
	argv := strings.Split(line, " ")
	if argv[0] != "user" || len(argv) < 2 {
		errs.WriteString(filename + ":" + linenum + " should start with user keyword followed by the username. ")
		return nil
	}
	if hasSpaces(argv[1]) {
		errs.WriteString("'" + filename + ":" + linenum + ": username '" + argv[1] + "' contains invalid characters. ")
		return nil
	}
	return argv
}

// applyLine applies the rules of a line's words (userLine) to u, writing ACL LOAD's texts for their
// problems to errs.
func applyLine(u *User, cfg Config, filename, linenum string, argv []string, errs *strings.Builder) {
	rules, open := mergeSelectorArgs(argv[2:])
	if open >= 0 {
		// redis-server 7.0.15 crashes here when rules precede the '('; moat reports it.
		errs.WriteString(filename + ":" + linenum + ": Unmatched parenthesis in selector definition.")
		return
	}
	reported := false
	for _, r := range rules {
		r = strings.Trim(r, "\t\r\n")
		err := u.applyRule(r, cfg)
		switch {
		case err == nil:
		case err == errUnknownCommand:
			errs.WriteString(filename + ":" + linenum + ": Error in applying operation '" + cstring(r) + "': " + err.Error() + ". ")
		case !reported:
			errs.WriteString(filename + ":" + linenum + ": " + err.Error() + ". ")
			reported = true
		}
	}
}

// addFreshDefault gives a set read without a "default" line the fresh "on nopass ~* &* +@all" one, as
// ACL LOAD does.
func (us *Users) addFreshDefault() {
	if us.m.get("default") != nil {
		return
	}
	d := newUser(us.table, "default", us.cfg)
	for _, r := range []string{"+@all", "~*", "&*", "on", "nopass"} {
		_ = d.applyRule(r, us.cfg)
	}
	us.m.set("default", d)
}

// byLine returns the users of us that were read from a line (src) and are unchanged since, by their
// line (trimmed).
func (us *Users) byLine() map[string]*User {
	out := make(map[string]*User, len(us.src))
	for _, line := range us.src {
		if u := us.lineUser(line); u != nil {
			out[strings.Trim(line, " \t\r\n")] = u
		}
	}
	return out
}

// fgetsText is the file as Redis builds it: fgets chunks of at most 1023 bytes (or up to a newline),
// each cut at its first NUL byte by sdscat.
func fgetsText(data string) string {
	if strings.IndexByte(data, 0) < 0 {
		return data // the chunks, put back together
	}
	var b strings.Builder
	b.Grow(len(data))
	for len(data) > 0 {
		n := min(len(data), 1023)
		if i := strings.IndexByte(data[:n], '\n'); i >= 0 {
			n = i + 1
		}
		chunk := data[:n]
		if i := strings.IndexByte(chunk, 0); i >= 0 {
			chunk = chunk[:i]
		}
		b.WriteString(chunk)
		data = data[n:]
	}
	return b.String()
}

// ACLFile renders the set as ACL SAVE writes the aclfile: "user <name> <rules>\n" per user, in name
// order.
func (us *Users) ACLFile() []byte {
	var b bytes.Buffer
	for _, line := range us.List() {
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}
