package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Group is one whitelist group of an instance (W2–W5).
//
// Entries are canonical prefixes as ParseEntry returns them, in the order
// they were given. Groups are values with a shared slice inside: treat a
// Group and its Entries as immutable once built; this package never writes
// to an Entries slice it receives. The zero value is not a valid group.
//
// JSON prints entries in prefix form ("127.0.0.1/32"); use FormatList for
// the cloud API's SecurityIpList form.
type Group struct {
	Name      string         `json:"name"`
	Attribute string         `json:"attribute,omitempty"` // "" or AttrHidden
	Entries   []netip.Prefix `json:"entries"`
}

// loopback returns the "deny everything" placeholder entry 127.0.0.1 (W1, W6).
func loopback() netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32)
}

// systemNames are the groups the cloud creates for its own services (W5).
var systemNames = [...]string{"ali_dms_group", "hdm_security_ips"}

// Initial returns the groups of a new instance (W1): one group, "default",
// holding 127.0.0.1, so every address is denied. Each call returns a new
// slice.
func Initial() []Group {
	return []Group{{Name: DefaultGroup, Entries: []netip.Prefix{loopback()}}}
}

// IsSystem reports whether g is a system group (W5): one of the names the
// cloud reserves for its services, or any group with attribute "hidden".
// System groups are changed only by privileged callers.
func IsSystem(g Group) bool {
	return g.Attribute == AttrHidden || isSystemName(g.Name)
}

func isSystemName(name string) bool {
	for _, n := range systemNames {
		if name == n {
			return true
		}
	}
	return false
}

// CheckGroupName checks a group name against W2: 2–32 characters of
// lowercase letters, digits and "_", starting with a lowercase letter and
// ending with a lowercase letter or digit. The error wraps ErrGroupName and
// names every rule the name breaks. The empty name is refused here; callers
// that accept a missing name map it to DefaultGroup first.
func CheckGroupName(name string) error {
	var broken []string
	if len(name) < 2 || len(name) > 32 {
		broken = append(broken, "must be 2 to 32 characters long")
	}
	for i := 0; i < len(name); i++ {
		if !isLower(name[i]) && !isDigit(name[i]) && name[i] != '_' {
			broken = append(broken, "may hold only lowercase letters, digits and _")
			break
		}
	}
	if name != "" && !isLower(name[0]) {
		broken = append(broken, "must start with a lowercase letter")
	}
	if last := len(name) - 1; last >= 0 && !isLower(name[last]) && !isDigit(name[last]) {
		broken = append(broken, "must end with a lowercase letter or digit")
	}
	if broken == nil {
		return nil
	}
	return fmt.Errorf("group name %q: %w: %s", name, ErrGroupName, strings.Join(broken, "; "))
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// checkAttribute checks a group attribute: "" or AttrHidden.
func checkAttribute(attr string) error {
	if attr != "" && attr != AttrHidden {
		return fmt.Errorf("attribute %q: %w", attr, ErrAttribute)
	}
	return nil
}

// indexOf returns the index of the group called name, or -1.
func indexOf(groups []Group, name string) int {
	for i := range groups {
		if groups[i].Name == name {
			return i
		}
	}
	return -1
}

// DeleteGroup returns groups without the group called name (W4); an empty
// name means DefaultGroup. It refuses the default group (ErrDeleteDefault),
// a missing group (ErrGroupNotFound) and, unless system is true (a
// privileged caller), a system group (ErrSystemGroup). It never modifies
// groups; the result is a new slice that shares the other groups' entries.
func DeleteGroup(groups []Group, name string, system bool) ([]Group, error) {
	if name == "" {
		name = DefaultGroup
	}
	if name == DefaultGroup {
		return nil, fmt.Errorf("group %q: %w", name, ErrDeleteDefault)
	}
	i := indexOf(groups, name)
	if i < 0 {
		return nil, fmt.Errorf("group %q: %w", name, ErrGroupNotFound)
	}
	if !system && IsSystem(groups[i]) {
		return nil, fmt.Errorf("group %q: %w", name, ErrSystemGroup)
	}
	out := make([]Group, 0, len(groups)-1)
	out = append(out, groups[:i]...)
	return append(out, groups[i+1:]...), nil
}

// Validate checks groups loaded from disk or a configuration file: every
// name (W2) and attribute, no name twice, a "default" group present, every
// group holding 1 to MaxEntries entries, each canonical as ParseEntry would
// return it (masked, not IPv4-mapped, no zone), none twice in one group.
// It reports every problem at once (errors.Join), each naming its group.
func Validate(groups []Group) error {
	var errs []error
	seen := make(map[string]bool, len(groups))
	for _, g := range groups {
		if err := CheckGroupName(g.Name); err != nil {
			errs = append(errs, err)
		}
		if err := checkAttribute(g.Attribute); err != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", g.Name, err))
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("group %q: %w group name", g.Name, ErrDuplicate))
		}
		seen[g.Name] = true
		errs = append(errs, validateEntries(g)...)
	}
	if !seen[DefaultGroup] {
		errs = append(errs, fmt.Errorf("group %q: %w (every instance has one)", DefaultGroup, ErrGroupNotFound))
	}
	return errors.Join(errs...)
}

// validateEntries checks the entries of one stored group.
func validateEntries(g Group) []error {
	var errs []error
	switch n := len(g.Entries); {
	case n == 0:
		errs = append(errs, fmt.Errorf("group %q: %w", g.Name, ErrEmptyList))
	case n > MaxEntries:
		errs = append(errs, fmt.Errorf("group %q: %d entries: %w (at most %d)", g.Name, n, ErrTooMany, MaxEntries))
	}
	seen := make(map[netip.Prefix]bool, len(g.Entries))
	for _, p := range g.Entries {
		if err := checkCanonical(p); err != nil {
			errs = append(errs, fmt.Errorf("group %q: %w", g.Name, err))
			continue
		}
		if seen[p] {
			errs = append(errs, fmt.Errorf("group %q: entry %q: %w", g.Name, FormatEntry(p), ErrDuplicate))
		}
		seen[p] = true
	}
	return errs
}

// checkCanonical reports whether p is a prefix ParseEntry could return.
// (A netip.Prefix never holds a zone.)
func checkCanonical(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("entry %q: %w", p.String(), ErrFormat)
	case p.Addr().Is4In6():
		return fmt.Errorf("entry %q: IPv4-mapped entries are stored in IPv4 form: %w", p.String(), ErrFormat)
	case p.Masked() != p:
		return fmt.Errorf("entry %q: %w (use %s)", p.String(), ErrHostBits, FormatEntry(p.Masked()))
	}
	return nil
}

// withEntries returns a copy of g holding entries (which it takes over).
func (g Group) withEntries(entries []netip.Prefix) Group {
	return Group{Name: g.Name, Attribute: g.Attribute, Entries: entries}
}
