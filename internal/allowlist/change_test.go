package allowlist

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in   string
		want Mode
		err  error
	}{
		{"", Cover, nil},
		{"Cover", Cover, nil},
		{"Append", Append, nil},
		{"Delete", Delete, nil},
		{"cover", "", ErrMode},
		{"APPEND", "", ErrMode},
		{"Replace", "", ErrMode},
		{" Cover", "", ErrMode},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.err != nil {
			if got != "" {
				t.Errorf("ParseMode(%q) = %q with an error", tt.in, got)
			}
			checkErrs(t, err, []error{tt.err}, `"`+tt.in+`"`)
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// want describes one group of Apply's result: "name[/attribute]=entries".
func describeGroups(groups []Group) string {
	var s []string
	for _, g := range groups {
		d := g.Name
		if g.Attribute != "" {
			d += "/" + g.Attribute
		}
		s = append(s, d+"="+FormatList(g.Entries))
	}
	return strings.Join(s, " ")
}

const typical = "default=127.0.0.1 dev=10.0.1.0/24,10.0.2.1 ali_dms_group/hidden=100.100.202.0/24 hdm_security_ips=100.104.0.0/16 secret/hidden=192.168.9.9"

// W3–W7: ModifySecurityIps, applied to a typical instance (instanceGroups).
func TestApply(t *testing.T) {
	tests := []struct {
		name string
		c    Change
		want string   // describeGroups of the result, when allowed
		warn string   // the warning expected, if any
		errs []error  // one class per problem, in order
		text []string // strings the error must hold
	}{
		// Cover.
		{name: "cover default", c: Change{Mode: Cover, Entries: "10.0.0.1,10.0.0.2"},
			want: strings.Replace(typical, "default=127.0.0.1", "default=10.0.0.1,10.0.0.2", 1)},
		{name: "zero mode is cover", c: Change{Group: "dev", Entries: "10.0.3.0/24"},
			want: strings.Replace(typical, "dev=10.0.1.0/24,10.0.2.1", "dev=10.0.3.0/24", 1)},
		{name: "cover creates the group last", c: Change{Group: "app", Mode: Cover, Entries: "::1,10.9.0.0/16"},
			want: typical + " app=::1,10.9.0.0/16"},
		{name: "cover creates a hidden group", c: Change{Group: "app", Attribute: AttrHidden, Mode: Cover, Entries: "10.9.9.9"},
			want: typical + " app/hidden=10.9.9.9"},
		{name: "cover back to 127.0.0.1", c: Change{Group: "default", Mode: Cover, Entries: "127.0.0.1"}, want: typical},
		{name: "cover keeps the attribute", c: Change{Group: "secret", Mode: Cover, Entries: "10.0.0.7", System: true},
			want: strings.Replace(typical, "secret/hidden=192.168.9.9", "secret/hidden=10.0.0.7", 1)},
		{name: "cover with the same attribute", c: Change{Group: "secret", Attribute: AttrHidden, Mode: Cover, Entries: "10.0.0.7", System: true},
			want: strings.Replace(typical, "secret/hidden=192.168.9.9", "secret/hidden=10.0.0.7", 1)},
		{name: "cover with nothing", c: Change{Group: "dev", Mode: Cover, Entries: ""}, errs: []error{ErrEmptyList}, text: []string{`group "dev"`}},
		{name: "cover with 1,001 entries", c: Change{Group: "dev", Mode: Cover, Entries: distinctList(MaxEntries + 1)}, errs: []error{ErrTooMany}},
		{name: "cover with 1,000 entries", c: Change{Group: "app", Mode: Cover, Entries: distinctList(MaxEntries)},
			want: typical + " app=" + FormatList(list(t, distinctList(MaxEntries)))},

		// W7: setting 0.0.0.0/0 or ::/0 warns.
		{name: "cover with 0.0.0.0/0", c: Change{Mode: Cover, Entries: "0.0.0.0/0"},
			want: strings.Replace(typical, "default=127.0.0.1", "default=0.0.0.0/0", 1),
			warn: `group "default": 0.0.0.0/0 opens the instance to every address (any IPv4 client may connect)`},
		{name: "cover with ::/0", c: Change{Group: "v6", Mode: Cover, Entries: "::/0"},
			want: typical + " v6=::/0",
			warn: `group "v6": ::/0 opens the instance to every address (any IPv6 client may connect)`},
		{name: "append both", c: Change{Group: "dev", Mode: Append, Entries: "::/0,0.0.0.0/0"},
			want: strings.Replace(typical, "dev=10.0.1.0/24,10.0.2.1", "dev=10.0.1.0/24,10.0.2.1,::/0,0.0.0.0/0", 1),
			warn: `group "dev": 0.0.0.0/0 and ::/0 open the instance to every address (any client may connect)`},

		// Append.
		{name: "append", c: Change{Group: "dev", Mode: Append, Entries: "10.0.3.0/24,2001:db8::/32"},
			want: strings.Replace(typical, "dev=10.0.1.0/24,10.0.2.1", "dev=10.0.1.0/24,10.0.2.1,10.0.3.0/24,2001:db8::/32", 1)},
		{name: "append to default keeps 127.0.0.1", c: Change{Mode: Append, Entries: "10.0.0.1"},
			want: strings.Replace(typical, "default=127.0.0.1", "default=127.0.0.1,10.0.0.1", 1)},
		{name: "append creates the group", c: Change{Group: "app", Mode: Append, Entries: "10.9.9.9"},
			want: typical + " app=10.9.9.9"},
		{name: "append an entry already there", c: Change{Group: "dev", Mode: Append, Entries: "10.0.4.4,10.0.2.1/32,10.0.1.0/24"},
			errs: []error{ErrDuplicate, ErrDuplicate}, text: []string{`group "dev"`, `"10.0.2.1/32"`, `"10.0.1.0/24"`}},
		{name: "append a duplicate within the list", c: Change{Group: "dev", Mode: Append, Entries: "10.0.4.4,10.0.4.4"},
			errs: []error{ErrDuplicate}},
		{name: "append up to 1,000", c: Change{Group: "dev", Mode: Append, Entries: distinctList(MaxEntries - 2)},
			want: strings.Replace(typical, "dev=10.0.1.0/24,10.0.2.1", "dev=10.0.1.0/24,10.0.2.1,"+FormatList(list(t, distinctList(MaxEntries-2))), 1)},
		{name: "append past 1,000", c: Change{Group: "dev", Mode: Append, Entries: distinctList(MaxEntries - 1)},
			errs: []error{ErrTooMany}, text: []string{"1001 entries"}},

		// Delete.
		{name: "delete an entry", c: Change{Group: "dev", Mode: Delete, Entries: "10.0.2.1"},
			want: strings.Replace(typical, "dev=10.0.1.0/24,10.0.2.1", "dev=10.0.1.0/24", 1)},
		{name: "delete matches the canonical entry", c: Change{Group: "dev", Mode: Delete, Entries: "10.0.2.1/32,::ffff:10.0.1.0/120"},
			want: strings.Replace(typical, " dev=10.0.1.0/24,10.0.2.1", "", 1)},
		{name: "delete the last entries removes the group", c: Change{Group: "dev", Mode: Delete, Entries: "10.0.1.0/24,10.0.2.1"},
			want: strings.Replace(typical, " dev=10.0.1.0/24,10.0.2.1", "", 1)},
		{name: "emptying default resets it to 127.0.0.1", c: Change{Mode: Delete, Entries: "127.0.0.1"}, want: typical},
		{name: "delete an entry not in the group", c: Change{Group: "dev", Mode: Delete, Entries: "10.0.2.1,10.9.9.9,10.0.1.0/25"},
			errs: []error{ErrEntryNotFound, ErrEntryNotFound}, text: []string{`group "dev"`, `"10.9.9.9"`, `"10.0.1.0/25"`}},
		{name: "delete from a missing group", c: Change{Group: "nope", Mode: Delete, Entries: "10.0.0.1"},
			errs: []error{ErrGroupNotFound}, text: []string{`group "nope"`}},
		{name: "delete 0.0.0.0/0 never listed", c: Change{Group: "dev", Mode: Delete, Entries: "0.0.0.0/0"},
			errs: []error{ErrEntryNotFound}},
		{name: "delete with nothing", c: Change{Group: "dev", Mode: Delete}, errs: []error{ErrEmptyList}},
		{name: "delete bad entries from a missing group", c: Change{Group: "nope", Mode: Delete, Entries: "10.0.0.1/8"},
			errs: []error{ErrHostBits, ErrGroupNotFound}},

		// W5: system groups.
		{name: "cover a reserved group", c: Change{Group: "ali_dms_group", Mode: Cover, Entries: "10.0.0.1"},
			errs: []error{ErrSystemGroup}, text: []string{`group "ali_dms_group"`}},
		{name: "append to a reserved group", c: Change{Group: "hdm_security_ips", Mode: Append, Entries: "10.0.0.1"}, errs: []error{ErrSystemGroup}},
		{name: "delete from a hidden group", c: Change{Group: "secret", Mode: Delete, Entries: "192.168.9.9"}, errs: []error{ErrSystemGroup}},
		{name: "the system covers a reserved group", c: Change{Group: "ali_dms_group", Mode: Cover, Entries: "10.0.0.1", System: true},
			want: strings.Replace(typical, "ali_dms_group/hidden=100.100.202.0/24", "ali_dms_group/hidden=10.0.0.1", 1)},
		{name: "the system empties a hidden group", c: Change{Group: "secret", Mode: Delete, Entries: "192.168.9.9", System: true},
			want: strings.Replace(typical, " secret/hidden=192.168.9.9", "", 1)},

		// Names, attributes, modes.
		{name: "bad name", c: Change{Group: "Dev-1", Mode: Cover, Entries: "10.0.0.1"}, errs: []error{ErrGroupName}},
		{name: "bad attribute", c: Change{Group: "app", Attribute: "private", Mode: Cover, Entries: "10.0.0.1"}, errs: []error{ErrAttribute}},
		{name: "attribute of an existing group", c: Change{Group: "dev", Attribute: AttrHidden, Mode: Append, Entries: "10.0.0.1"},
			errs: []error{ErrAttribute}, text: []string{"only when a group is created"}},
		{name: "bad mode", c: Change{Group: "dev", Mode: "cover", Entries: "10.0.0.1"}, errs: []error{ErrMode}, text: []string{`"cover"`}},
		{name: "every problem at once", c: Change{Group: "Bad-", Attribute: "x", Mode: "Replace", Entries: "1.2.3.4/33,, 1.2.3.4,1.2.3.5/24"},
			errs: []error{ErrGroupName, ErrAttribute, ErrMode, ErrPrefixLength, ErrFormat, ErrSpace, ErrHostBits},
			text: []string{`group "Bad-": entry "1.2.3.4/33"`, "use 1.2.3.0/24"}},
		{name: "system group and bad entries at once", c: Change{Group: "secret", Mode: Append, Entries: "x,192.168.9.9"},
			errs: []error{ErrFormat, ErrSystemGroup}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instanceGroups(t)
			before := cloneGroups(in)
			out, warnings, err := Apply(in, tt.c)
			if !sameGroups(in, before) {
				t.Errorf("Apply modified its input: %s", describeGroups(in))
			}
			if tt.errs != nil {
				if out != nil || warnings != nil {
					t.Errorf("Apply = %s, %q with an error; want nil, nil", describeGroups(out), warnings)
				}
				checkLeaves(t, err, tt.errs)
				checkErrs(t, err, tt.errs, tt.text...)
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got := describeGroups(out); got != tt.want {
				t.Errorf("Apply result:\n got %s\nwant %s", got, tt.want)
			}
			var wantWarn []string
			if tt.warn != "" {
				wantWarn = []string{tt.warn}
			}
			if !slices.Equal(warnings, wantWarn) {
				t.Errorf("warnings %q; want %q", warnings, wantWarn)
			}
			if err := Validate(out); err != nil {
				t.Errorf("Apply result does not validate: %v", err)
			}
		})
	}
}

// W5: the reserved names belong to the cloud's services, even before they exist.
func TestApplyReservedNameCreation(t *testing.T) {
	for _, name := range []string{"ali_dms_group", "hdm_security_ips"} {
		_, _, err := Apply(Initial(), Change{Group: name, Mode: Append, Entries: "10.0.0.1"})
		checkErrs(t, err, []error{ErrSystemGroup}, `group "`+name+`"`, "reserved name")
		out, _, err := Apply(Initial(), Change{Group: name, Attribute: AttrHidden, Mode: Cover, Entries: "10.0.0.1", System: true})
		if err != nil || describeGroups(out) != "default=127.0.0.1 "+name+"/hidden=10.0.0.1" {
			t.Errorf("the system creating %s: %s, %v", name, describeGroups(out), err)
		}
	}
}

// W7: the warning comes with the change that sets 0.0.0.0/0 or ::/0, not
// with later changes to a group that holds it.
func TestApplyWarnsOnlyWhenSetting(t *testing.T) {
	open := []Group{group(t, "default", "", "0.0.0.0/0,::/0,10.0.0.1")}
	for _, c := range []Change{
		{Mode: Append, Entries: "10.0.0.2"},
		{Mode: Delete, Entries: "10.0.0.1"},
		{Mode: Delete, Entries: "0.0.0.0/0"},
		{Mode: Cover, Entries: "10.0.0.3"},
	} {
		_, warnings, err := Apply(open, c)
		if err != nil || warnings != nil {
			t.Errorf("Apply(%+v) = warnings %q, %v; want none", c, warnings, err)
		}
	}
	_, warnings, err := Apply(open, Change{Mode: Cover, Entries: "0.0.0.0/0"})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "opens the instance to every address") {
		t.Errorf("covering with 0.0.0.0/0 again: warnings %q, %v; want the W7 warning", warnings, err)
	}
}

// Apply writes neither the input array nor any input Entries array, not even
// spare capacity, and its result does not alias the input array or the
// entries of the group it changed (unchanged groups share their entries).
func TestApplyDoesNotAlias(t *testing.T) {
	in := make([]Group, 0, 10) // spare capacity where a careless append would write
	dev := make([]netip.Prefix, 0, 10)
	dev = append(dev, list(t, "10.0.1.0/24,10.0.2.1")...)
	in = append(in, group(t, "default", "", "127.0.0.1"), Group{Name: "dev", Entries: dev})
	before := cloneGroups(in)
	spare := slices.Clone(in[:cap(in)])

	for _, c := range []Change{
		{Group: "dev", Mode: Append, Entries: "10.0.3.3"},
		{Group: "dev", Mode: Delete, Entries: "10.0.1.0/24"},
		{Group: "dev", Mode: Cover, Entries: "10.0.5.5"},
		{Group: "new", Mode: Append, Entries: "10.0.6.6"},
		{Group: "dev", Mode: Append, Entries: "10.0.2.1"}, // fails
	} {
		out, _, err := Apply(in, c)
		if !sameGroups(in, before) || !slices.EqualFunc(in[:cap(in)], spare, func(a, b Group) bool { return a.Name == b.Name }) {
			t.Fatalf("Apply(%+v) modified its input", c)
		}
		if err != nil {
			continue
		}
		out[0].Name = "changed"
		for i := range out {
			if out[i].Name == c.Group && len(out[i].Entries) > 0 { // only the changed group owns new entries
				out[i].Entries[0] = netip.MustParsePrefix("192.0.2.0/24")
			}
		}
		if !sameGroups(in, before) {
			t.Fatalf("the result of Apply(%+v) aliases its input", c)
		}
	}
}

// A typical session through the cloud API, one call after another (W1, W4, W6).
func TestApplySequence(t *testing.T) {
	groups := Initial()
	a := netip.MustParseAddr("10.0.1.7")
	step := func(c Change) {
		t.Helper()
		var err error
		if groups, _, err = Apply(groups, c); err != nil {
			t.Fatalf("Apply(%+v): %v", c, err)
		}
	}
	if Compile(groups, nil).Allows(a) {
		t.Fatalf("new instance allows %v", a)
	}
	step(Change{Group: "dev", Mode: Append, Entries: "10.0.1.0/24"})
	if !Compile(groups, nil).Allows(a) {
		t.Fatalf("after adding 10.0.1.0/24, %v is denied", a)
	}
	step(Change{Group: "dev", Mode: Delete, Entries: "10.0.1.0/24"})
	if got := describeGroups(groups); got != "default=127.0.0.1" {
		t.Fatalf("after deleting the only entry of dev: %s; want default=127.0.0.1", got)
	}
	if Compile(groups, nil).Allows(a) {
		t.Fatalf("after deleting 10.0.1.0/24, %v is allowed", a)
	}
}
