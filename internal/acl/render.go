package acl

import (
	"math/bits"
	"strings"
)

// Describe is the user's rules as ACL LIST shows them after "user <name> " (ACLDescribeUser, 7.0.15):
// flags, "#<hash>"s, the root selector (keys, channels, command rules), then " (<selector>)"s. For
// example "on #5e88…ef ~app:* resetchannels -@all +get".
func (u *User) Describe() string {
	var b strings.Builder
	for _, f := range u.flagNames() {
		b.WriteString(f)
		b.WriteByte(' ')
	}
	for _, h := range u.passwords {
		b.WriteString("#" + h + " ")
	}
	b.WriteString(u.root.describe(u.table))
	for _, s := range u.selectors {
		b.WriteString(" (" + s.describe(u.table) + ")")
	}
	return b.String()
}

// flagNames are the user's flags in ACLUserFlags order: on/off, nopass, skip-sanitize-payload,
// sanitize-payload.
func (u *User) flagNames() []string {
	out := []string{"off"}
	if u.enabled {
		out[0] = "on"
	}
	if u.nopass {
		out = append(out, "nopass")
	}
	switch u.sanitize {
	case sanitizeSkip:
		out = append(out, "skip-sanitize-payload")
	case sanitizeOn:
		out = append(out, "sanitize-payload")
	}
	return out
}

// describe is ACLDescribeSelector: keys ("~*" or each pattern), channels ("&*" or "resetchannels" and
// each "&pattern"), then the command rules.
func (s *Selector) describe(t *Table) string {
	var b strings.Builder
	if s.allKeys {
		b.WriteString("~* ")
	} else {
		for _, kp := range s.keys {
			b.WriteString(kp.String() + " ")
		}
	}
	if s.allChannels {
		b.WriteString("&* ")
	} else {
		b.WriteString("resetchannels ")
		for _, c := range s.channels {
			b.WriteString("&" + c.pattern + " ")
		}
	}
	b.WriteString(s.commandRules(t))
	return b.String()
}

// UserInfo is ACL GETUSER's reply as data (7.0.15 shape): a map of flags (a set), passwords (an array),
// commands, keys, channels (bulk strings) and selectors (an array of maps of commands, keys, channels).
// The gateway encodes it in RESP2 (flat arrays) or RESP3 (maps and sets).
type UserInfo struct {
	Flags     []string
	Passwords []string
	SelectorInfo
	Selectors []SelectorInfo
}

// SelectorInfo is one selector in ACL GETUSER: "commands" ("-@all +get"), "keys" ("~a* %R~b*", or "~*")
// and "channels" ("&a &b", or "&*"), in that order.
type SelectorInfo struct {
	Commands string
	Keys     string
	Channels string
}

// Info returns the user's ACL GETUSER data.
func (u *User) Info() UserInfo {
	info := UserInfo{
		Flags:        u.flagNames(),
		Passwords:    u.PasswordHashes(),
		SelectorInfo: u.root.info(u.table),
	}
	if info.Passwords == nil {
		info.Passwords = []string{}
	}
	info.Selectors = []SelectorInfo{}
	for _, s := range u.selectors {
		info.Selectors = append(info.Selectors, s.info(u.table))
	}
	return info
}

func (s *Selector) info(t *Table) SelectorInfo {
	si := SelectorInfo{Commands: s.commandRules(t)}
	if s.allKeys {
		si.Keys = "~*"
	} else {
		parts := make([]string, len(s.keys))
		for i, kp := range s.keys {
			parts[i] = kp.String()
		}
		si.Keys = strings.Join(parts, " ")
	}
	if s.allChannels {
		si.Channels = "&*"
	} else {
		parts := make([]string, len(s.channels))
		for i, c := range s.channels {
			parts[i] = "&" + c.pattern
		}
		si.Channels = strings.Join(parts, " ")
	}
	return si
}

// commandRules renders the selector's command permissions the way 7.0.15 regenerates them from the
// bitmap (ACLDescribeSelectorCommandRules): "+@all" or "-@all", then, greedily, the category that best
// fits what is still different (most in common, fewest differences, in ACL CAT order on ties), then the
// single commands and subcommands that still differ, and the first-arg allows of denied commands.
//
// Redis walks its command dictionary in hash order for the last part, so its order there changes from
// one process to the next; moat uses name order. The set of rules is the same, and re-parsing the text
// gives the same permissions.
func (s *Selector) commandRules(t *Table) string {
	var b strings.Builder
	additive := !s.future
	fake := newBitset(t.words)
	if additive {
		b.WriteString("-@all ")
	} else {
		b.WriteString("+@all ")
		for i := range fake {
			fake[i] = ^uint64(0)
		}
	}
	temp := s.allowed.clone()
	var applied [numCategories]bool
	for {
		best, minDiff, maxSame := -1, int(^uint(0)>>1), 0
		for cat := range numCategories {
			if applied[cat] {
				continue
			}
			on, off := countCategory(t, temp, cat)
			diff, same := on, off
			if additive {
				diff, same = off, on
			}
			if same > diff && (diff < minDiff || (diff == minDiff && same > maxSame)) {
				best, minDiff, maxSame = int(cat), diff, same
			}
		}
		if best < 0 {
			break
		}
		cat := Category(best)
		applyCategoryBits(t, fake, cat, additive)
		applyCategoryBits(t, temp, cat, !additive)
		if additive {
			b.WriteString("+@" + cat.String() + " ")
		} else {
			b.WriteString("-@" + cat.String() + " ")
		}
		applied[cat] = true
	}
	for _, c := range t.cmds {
		if c.parent != nil {
			continue
		}
		s.describeSingle(c, fake, &b)
		for _, sub := range c.Subcommands {
			s.describeSingle(sub, fake, &b)
		}
		if !s.allowed.get(c.id) {
			for _, a := range s.firstArgs[c.id] {
				b.WriteString("+" + c.Name + "|" + a + " ")
			}
		}
	}
	return strings.TrimSuffix(b.String(), " ")
}

// describeSingle emits "+cmd" or "-cmd" when the user's bit differs from what the rules so far give,
// and brings fake up to date the way the rule would (a container takes its subcommands along).
func (s *Selector) describeSingle(c *Command, fake bitset, b *strings.Builder) {
	user := s.allowed.get(c.id)
	if user == fake.get(c.id) {
		return
	}
	if user {
		b.WriteString("+" + c.Name + " ")
	} else {
		b.WriteString("-" + c.Name + " ")
	}
	fake.put(c.id, user)
	for _, sub := range c.Subcommands {
		fake.put(sub.id, user)
	}
}

// countCategory counts the category's commands that are on and off in bm.
func countCategory(t *Table, bm bitset, cat Category) (on, off int) {
	members := t.catMembers[cat]
	total := 0
	for i, w := range members {
		on += bits.OnesCount64(w & bm[i])
		total += bits.OnesCount64(w)
	}
	return on, total - on
}

// applyCategoryBits sets or clears in bm what +@cat / -@cat changes.
func applyCategoryBits(t *Table, bm bitset, cat Category, allow bool) {
	for i, w := range t.catApply[cat] {
		if allow {
			bm[i] |= w
		} else {
			bm[i] &^= w
		}
	}
}
