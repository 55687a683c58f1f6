package allowlist

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// W2: group names.
func TestCheckGroupName(t *testing.T) {
	tests := []struct {
		name   string
		broken string // the rule the error must name; "" if valid
	}{
		{"default", ""},
		{"ab", ""},
		{"a1", ""},
		{"a_1", ""},
		{"dev_team_2", ""},
		{"ali_dms_group", ""},
		{"hdm_security_ips", ""},
		{strings.Repeat("a", 32), ""},

		{"", "2 to 32 characters"},
		{"a", "2 to 32 characters"},
		{strings.Repeat("a", 33), "2 to 32 characters"},
		{"Dev", "only lowercase letters, digits and _"},
		{"dev-team", "only lowercase letters, digits and _"},
		{"dev team", "only lowercase letters, digits and _"},
		{"dév", "only lowercase letters, digits and _"},
		{"1dev", "start with a lowercase letter"},
		{"_dev", "start with a lowercase letter"},
		{"dev_", "end with a lowercase letter or digit"},
		{"a_", "end with a lowercase letter or digit"},
	}
	for _, tt := range tests {
		err := CheckGroupName(tt.name)
		if tt.broken == "" {
			if err != nil {
				t.Errorf("CheckGroupName(%q): %v; want nil", tt.name, err)
			}
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, err, []error{ErrGroupName}, `"`+tt.name+`"`, tt.broken)
		})
	}

	// Every broken rule is named at once.
	checkErrs(t, CheckGroupName("_X-"), []error{ErrGroupName},
		"only lowercase letters", "start with a lowercase letter", "end with a lowercase letter or digit")
}

// W5: system groups.
func TestIsSystem(t *testing.T) {
	tests := []struct {
		g    Group
		want bool
	}{
		{Group{Name: "ali_dms_group"}, true},
		{Group{Name: "hdm_security_ips"}, true},
		{Group{Name: "das_group", Attribute: AttrHidden}, true},
		{Group{Name: "default", Attribute: AttrHidden}, true},
		{Group{Name: "default"}, false},
		{Group{Name: "dev"}, false},
		{Group{Name: "ali_dms_group2"}, false},
	}
	for _, tt := range tests {
		if got := IsSystem(tt.g); got != tt.want {
			t.Errorf("IsSystem(%+v) = %v; want %v", tt.g, got, tt.want)
		}
	}
}

// W1: a new instance has one group, default, holding 127.0.0.1.
func TestInitial(t *testing.T) {
	a, b := Initial(), Initial()
	if len(a) != 1 || a[0].Name != DefaultGroup || a[0].Attribute != "" || FormatList(a[0].Entries) != "127.0.0.1" {
		t.Fatalf("Initial() = %+v; want [{default  [127.0.0.1]}]", a)
	}
	if err := Validate(a); err != nil {
		t.Errorf("Validate(Initial()): %v", err)
	}
	a[0].Entries[0] = netip.MustParsePrefix("10.0.0.0/8")
	if FormatList(b[0].Entries) != "127.0.0.1" {
		t.Errorf("Initial() results share entries: %v", b)
	}
	if Compile(Initial(), nil).Allows(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("a new instance allows 127.0.0.1; W1 says it denies every address")
	}
}

// instanceGroups is a typical instance: default, a user group, the cloud's
// system groups and a hidden group.
func instanceGroups(t testing.TB) []Group {
	return []Group{
		group(t, "default", "", "127.0.0.1"),
		group(t, "dev", "", "10.0.1.0/24,10.0.2.1"),
		group(t, "ali_dms_group", AttrHidden, "100.100.202.0/24"),
		group(t, "hdm_security_ips", "", "100.104.0.0/16"),
		group(t, "secret", AttrHidden, "192.168.9.9"),
	}
}

// names lists the group names, in order.
func names(groups []Group) string {
	var s []string
	for _, g := range groups {
		s = append(s, g.Name)
	}
	return strings.Join(s, ",")
}

// W4, W5: deleting groups.
func TestDeleteGroup(t *testing.T) {
	tests := []struct {
		name   string
		group  string
		system bool
		want   string // remaining group names, when allowed
		err    error
	}{
		{name: "user group", group: "dev", want: "default,ali_dms_group,hdm_security_ips,secret"},
		{name: "default", group: "default", err: ErrDeleteDefault},
		{name: "default even for the system", group: "default", system: true, err: ErrDeleteDefault},
		{name: "missing name means default", group: "", err: ErrDeleteDefault},
		{name: "missing group", group: "nope", err: ErrGroupNotFound},
		{name: "reserved system name", group: "ali_dms_group", err: ErrSystemGroup},
		{name: "other reserved name", group: "hdm_security_ips", err: ErrSystemGroup},
		{name: "hidden group", group: "secret", err: ErrSystemGroup},
		{name: "system name by the system", group: "ali_dms_group", system: true, want: "default,dev,hdm_security_ips,secret"},
		{name: "hidden by the system", group: "secret", system: true, want: "default,dev,ali_dms_group,hdm_security_ips"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := instanceGroups(t)
			before := cloneGroups(in)
			out, err := DeleteGroup(in, tt.group, tt.system)
			if !sameGroups(in, before) {
				t.Errorf("DeleteGroup modified its input: %+v", in)
			}
			if tt.err != nil {
				if out != nil {
					t.Errorf("DeleteGroup = %+v with an error; want nil", out)
				}
				checkErrs(t, err, []error{tt.err}, `group "`)
				return
			}
			if err != nil {
				t.Fatalf("DeleteGroup(%q): %v", tt.group, err)
			}
			if got := names(out); got != tt.want {
				t.Errorf("groups after DeleteGroup(%q) = %s; want %s", tt.group, got, tt.want)
			}
			out[0].Name = "changed"
			if in[0].Name != "default" {
				t.Errorf("DeleteGroup result shares its array with the input")
			}
		})
	}
}

// Validate checks groups loaded from disk or configuration.
func TestValidate(t *testing.T) {
	many := list(t, distinctList(MaxEntries))
	tooMany := append(list(t, distinctList(MaxEntries)), netip.MustParsePrefix("12.0.0.0/8"))
	tests := []struct {
		name   string
		groups []Group
		errs   []error
		text   []string
	}{
		{name: "initial", groups: Initial()},
		{name: "typical", groups: instanceGroups(t)},
		{name: "1,000 entries", groups: []Group{{Name: "default", Entries: many}}},
		{name: "no groups", groups: nil, errs: []error{ErrGroupNotFound}, text: []string{`"default"`}},
		{name: "no default", groups: []Group{group(t, "dev", "", "10.0.0.1")}, errs: []error{ErrGroupNotFound}},
		{name: "bad name", groups: []Group{Initial()[0], group(t, "Dev", "", "10.0.0.1")}, errs: []error{ErrGroupName}},
		{name: "same name twice", groups: []Group{Initial()[0], group(t, "dev", "", "10.0.0.1"), group(t, "dev", "", "10.0.0.2")},
			errs: []error{ErrDuplicate}, text: []string{`group "dev"`}},
		{name: "bad attribute", groups: []Group{{Name: "default", Attribute: "Hidden", Entries: list(t, "10.0.0.1")}}, errs: []error{ErrAttribute}},
		{name: "no entries", groups: []Group{{Name: "default"}}, errs: []error{ErrEmptyList}},
		{name: "1,001 entries", groups: []Group{{Name: "default", Entries: tooMany}}, errs: []error{ErrTooMany}},
		{name: "host bits", groups: []Group{{Name: "default", Entries: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}}},
			errs: []error{ErrHostBits}, text: []string{"use 10.0.0.0/24"}},
		{name: "mapped entry", groups: []Group{{Name: "default", Entries: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.5/128")}}},
			errs: []error{ErrFormat}},
		{name: "invalid entry", groups: []Group{{Name: "default", Entries: []netip.Prefix{{}}}}, errs: []error{ErrFormat}},
		{name: "duplicate entry", groups: []Group{{Name: "default", Entries: append(list(t, "10.0.0.1"), list(t, "10.0.0.1")...)}},
			errs: []error{ErrDuplicate}, text: []string{`entry "10.0.0.1"`}},
		{name: "every problem at once",
			groups: []Group{
				{Name: "X", Attribute: "y", Entries: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/8")}},
				{Name: "X"},
			},
			errs: []error{ErrGroupName, ErrAttribute, ErrHostBits, ErrGroupName, ErrDuplicate, ErrEmptyList, ErrGroupNotFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.groups)
			if tt.errs == nil {
				checkErrs(t, err, nil)
				return
			}
			checkLeaves(t, err, tt.errs)
			checkErrs(t, err, tt.errs, tt.text...)
		})
	}
}

// Groups stored as JSON come back equal, and Validate catches hand edits.
func TestGroupJSON(t *testing.T) {
	in := instanceGroups(t)
	data, err := json.Marshal(in[:2])
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"default","entries":["127.0.0.1/32"]},{"name":"dev","entries":["10.0.1.0/24","10.0.2.1/32"]}]`
	if string(data) != want {
		t.Errorf("JSON = %s; want %s", data, want)
	}
	var out []Group
	if err := json.Unmarshal(data, &out); err != nil || describeGroups(out) != describeGroups(in[:2]) {
		t.Errorf("round trip: %s, %v", describeGroups(out), err)
	}
	edited := `[{"name":"default","entries":["10.0.0.5/24"]}]`
	if err := json.Unmarshal([]byte(edited), &out); err != nil {
		t.Fatal(err)
	}
	checkErrs(t, Validate(out), []error{ErrHostBits}, "use 10.0.0.0/24")
}
