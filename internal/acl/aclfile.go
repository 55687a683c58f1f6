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
// holds a newline or a NUL byte (which fgets would read otherwise).
func ReparseACLLines(prev *Users, t *Table, cfg Config, filename string, lines []string) (*Users, error) {
	for _, l := range lines {
		if strings.IndexByte(l, '\n') >= 0 || strings.IndexByte(l, 0) >= 0 {
			return ReparseACLText(prev, t, cfg, filename, strings.Join(lines, "\n"))
		}
	}
	return parseLines(prev, t, cfg, filename, lines)
}

// parseLines is ReparseACLFile of the file's lines as fgets reads them.
func parseLines(prev *Users, t *Table, cfg Config, filename string, lines []string) (*Users, error) {
	us := &Users{table: t, cfg: cfg, m: make(map[string]*User, len(lines)), lines: make(map[string]*User, len(lines))}
	if prev != nil && (prev.table != t || prev.cfg != cfg) {
		prev = nil
	}
	var errs strings.Builder
	for i, line := range lines {
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		if u := prev.readFrom(line); u != nil && us.m[u.name] == nil {
			us.m[u.name], us.lines[line] = u, u
			continue
		}
		linenum := strconv.Itoa(i + 1)
		argv := strings.Split(line, " ")
		if argv[0] != "user" || len(argv) < 2 {
			errs.WriteString(filename + ":" + linenum + " should start with user keyword followed by the username. ")
			continue
		}
		name := argv[1]
		if hasSpaces(name) {
			errs.WriteString("'" + filename + ":" + linenum + ": username '" + name + "' contains invalid characters. ")
			continue
		}
		if _, dup := us.m[name]; dup {
			errs.WriteString("WARNING: Duplicate user '" + name + "' found on line " + linenum + ". ")
			continue
		}
		u := newUser(t, name, cfg)
		us.m[name], us.lines[line] = u, u
		rules, open := mergeSelectorArgs(argv[2:])
		if open >= 0 {
			// redis-server 7.0.15 crashes here when rules precede the '('; moat reports it.
			errs.WriteString(filename + ":" + linenum + ": Unmatched parenthesis in selector definition.")
			continue
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
	if errs.Len() > 0 {
		return nil, replyErr(replyACLFileErrors(errs.String()))
	}
	if us.m["default"] == nil {
		d := newUser(t, "default", cfg)
		for _, r := range []string{"+@all", "~*", "&*", "on", "nopass"} {
			_ = d.applyRule(r, cfg)
		}
		us.m["default"] = d
	}
	return us, nil
}

// readFrom returns the user of us that was read from line and is unchanged since, or nil (also when us
// is nil).
func (us *Users) readFrom(line string) *User {
	if us == nil {
		return nil
	}
	if u := us.lines[line]; u != nil && us.m[u.name] == u {
		return u
	}
	return nil
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
