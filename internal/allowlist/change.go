package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
)

// Mode is how a Change treats the group's current entries (W4).
type Mode string

// The modify modes, spelt as the cloud API's ModifyMode parameter.
const (
	Cover  Mode = "Cover"  // replace the group's entries, creating the group if missing
	Append Mode = "Append" // add entries, creating the group if missing
	Delete Mode = "Delete" // remove entries; removing the last one removes the group
)

// ParseMode parses the cloud API's ModifyMode parameter: "" is Cover (the
// API's default); "Cover", "Append" and "Delete" are taken case-sensitively,
// as the cloud API does; anything else is ErrMode.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Cover, nil
	case Cover, Append, Delete:
		return m, nil
	}
	return "", fmt.Errorf("modify mode %q: %w", s, ErrMode)
}

// Change is one ModifySecurityIps request: a change to one group's entries.
// The zero Mode means Cover.
type Change struct {
	Group     string // group name; "" means DefaultGroup
	Attribute string // "" or AttrHidden; applied when the group is created
	Mode      Mode   // Cover (also ""), Append or Delete
	Entries   string // raw comma-separated entry list, parsed with ParseList
	System    bool   // privileged caller (the operator's config file): may change system groups
}

// Apply applies c to groups (W2–W7) and returns the new groups.
//
// Cover replaces the group's entries, creating the group if it is missing.
// Append adds entries, creating the group if missing; an entry already in the
// group is ErrDuplicate, and a result over MaxEntries is ErrTooMany. Delete
// removes the given entries: a missing group is ErrGroupNotFound and an entry
// not in the group is ErrEntryNotFound; a Delete that empties a group removes
// it, except "default", which is reset to 127.0.0.1. New groups are added
// after the existing ones; entry order is kept, appended entries go last.
//
// Without c.System, a change to an existing system group (IsSystem), or the
// creation of a group with a reserved system name, is ErrSystemGroup;
// creating a group with attribute "hidden" is allowed, as in the cloud API.
// The attribute of an existing group is kept: a different non-empty
// c.Attribute is ErrAttribute.
//
// Apply is pure: it never modifies groups, and it returns a new slice in which
// only the changed group has new Entries (the others share their entries with
// the input). On error it returns every problem at once (errors.Join), each
// naming the group and, where there is one, the entry; out is then nil.
//
// warnings holds one sentence when c sets 0.0.0.0/0 or ::/0 (W7).
func Apply(groups []Group, c Change) (out []Group, warnings []string, err error) {
	name, mode := c.Group, c.Mode
	if name == "" {
		name = DefaultGroup
	}
	if mode == "" {
		mode = Cover
	}
	i := indexOf(groups, name)
	ps, texts, errs := checkChange(groups, i, name, mode, c)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	var g Group
	switch {
	case mode == Delete: // checkChange made sure the group exists
		g, errs = deleteEntries(groups[i], ps, texts)
	case mode == Append && i >= 0:
		g, errs = appendEntries(groups[i], ps, texts)
	case i >= 0: // Cover
		g = groups[i].withEntries(ps)
	default: // Cover or Append creating the group
		g = Group{Name: name, Attribute: c.Attribute, Entries: ps}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return replace(groups, i, g), openWarning(name, mode, ps), nil
}

// checkChange checks what a change to groups[i] (i < 0: a group not yet
// there) can be checked for before it is applied: name, attribute, mode,
// entry list and the system-group rules. It returns the parsed entries with
// their texts, or every problem found, each naming the group.
func checkChange(groups []Group, i int, name string, mode Mode, c Change) ([]netip.Prefix, []string, []error) {
	var errs []error
	inGroup := func(err error) error { return fmt.Errorf("group %q: %w", name, err) }
	if err := CheckGroupName(name); err != nil {
		errs = append(errs, err)
	}
	attrErr := checkAttribute(c.Attribute)
	if attrErr != nil {
		errs = append(errs, inGroup(attrErr))
	}
	if _, err := ParseMode(string(mode)); err != nil {
		errs = append(errs, inGroup(err))
	}
	ps, texts, perrs := parseList(c.Entries)
	for _, e := range perrs {
		errs = append(errs, inGroup(e))
	}
	switch {
	case i < 0 && mode == Delete:
		errs = append(errs, inGroup(ErrGroupNotFound))
	case i < 0:
		if !c.System && isSystemName(name) {
			errs = append(errs, inGroup(fmt.Errorf("reserved name: %w", ErrSystemGroup)))
		}
	default:
		g := groups[i]
		if !c.System && IsSystem(g) {
			errs = append(errs, inGroup(ErrSystemGroup))
		}
		if attrErr == nil && c.Attribute != "" && c.Attribute != g.Attribute {
			errs = append(errs, inGroup(fmt.Errorf("group has attribute %q, which is set only when a group is created: %w", g.Attribute, ErrAttribute)))
		}
	}
	return ps, texts, errs
}

// appendEntries returns g with ps added after its entries.
func appendEntries(g Group, ps []netip.Prefix, texts []string) (Group, []error) {
	var errs []error
	have := make(map[netip.Prefix]bool, len(g.Entries))
	for _, p := range g.Entries {
		have[p] = true
	}
	for k, p := range ps {
		if have[p] {
			errs = append(errs, fmt.Errorf("group %q: entry %q: %w (already in the group)", g.Name, texts[k], ErrDuplicate))
		}
	}
	if n := len(g.Entries) + len(ps); n > MaxEntries {
		errs = append(errs, fmt.Errorf("group %q: %d entries after appending: %w (at most %d)", g.Name, n, ErrTooMany, MaxEntries))
	}
	if errs != nil {
		return Group{}, errs
	}
	entries := make([]netip.Prefix, 0, len(g.Entries)+len(ps))
	entries = append(entries, g.Entries...)
	return g.withEntries(append(entries, ps...)), nil
}

// deleteEntries returns g without ps. An emptied group has no entries,
// except "default", which is reset to 127.0.0.1.
func deleteEntries(g Group, ps []netip.Prefix, texts []string) (Group, []error) {
	var errs []error
	drop := make(map[netip.Prefix]bool, len(ps))
	for _, p := range ps {
		drop[p] = true
	}
	have := make(map[netip.Prefix]bool, len(g.Entries))
	entries := make([]netip.Prefix, 0, len(g.Entries))
	for _, p := range g.Entries {
		have[p] = true
		if !drop[p] {
			entries = append(entries, p)
		}
	}
	for k, p := range ps {
		if !have[p] {
			errs = append(errs, fmt.Errorf("group %q: entry %q: %w", g.Name, texts[k], ErrEntryNotFound))
		}
	}
	if errs != nil {
		return Group{}, errs
	}
	if len(entries) == 0 && g.Name == DefaultGroup {
		entries = append(entries, loopback())
	}
	return g.withEntries(entries), nil
}

// replace returns a new slice: groups with groups[i] replaced by g, or g
// appended when i < 0; a g without entries is left out.
func replace(groups []Group, i int, g Group) []Group {
	out := make([]Group, 0, len(groups)+1)
	switch {
	case i < 0:
		out = append(append(out, groups...), g)
	case len(g.Entries) == 0:
		out = append(append(out, groups[:i]...), groups[i+1:]...)
	default:
		out = append(append(append(out, groups[:i]...), g), groups[i+1:]...)
	}
	return out
}

// openWarning returns the W7 warning when a Cover or Append sets 0.0.0.0/0
// or ::/0. Peers are judged by their unmapped address (W8), so 0.0.0.0/0
// admits every IPv4 client and ::/0 every IPv6 client; the warning says which.
func openWarning(group string, mode Mode, ps []netip.Prefix) []string {
	if mode == Delete {
		return nil
	}
	var v4, v6 bool
	for _, p := range ps {
		if p.Bits() == 0 {
			v4 = v4 || p.Addr().Is4()
			v6 = v6 || p.Addr().Is6()
		}
	}
	var w string
	switch {
	case v4 && v6:
		w = fmt.Sprintf("group %q: 0.0.0.0/0 and ::/0 open the instance to every address (any client may connect)", group)
	case v4:
		w = fmt.Sprintf("group %q: 0.0.0.0/0 opens the instance to every address (any IPv4 client may connect)", group)
	case v6:
		w = fmt.Sprintf("group %q: ::/0 opens the instance to every address (any IPv6 client may connect)", group)
	default:
		return nil
	}
	return []string{w}
}
