package controlplane

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// A user's AccountPrivilege is derived from its rules: exactly a role's permissions (however spelt,
// whatever the flags and passwords) is that role; anything else, selectors included, is RoleCustom with
// the user's own rules.
func TestPrivilegeFromRules(t *testing.T) {
	p := New(nil, nil)
	us := acl.NewUsers(p.Commands(), ACLConfig(testInstance()))
	rw, _ := model.RoleRules(model.RoleReadWrite)
	ro, _ := model.RoleRules(model.RoleReadOnly)
	for _, tc := range []struct {
		rules  string
		role   string
		detail string
	}{
		{"on >pw " + strings.Join(rw, " "), model.RoleReadWrite, "~* &* +@all -@dangerous +info"},
		{"off nopass " + strings.Join(rw, " "), model.RoleReadWrite, "~* &* +@all -@dangerous +info"},
		{"on ~* &* -@all +@all -@dangerous +info", model.RoleReadWrite, "~* &* +@all -@dangerous +info"},
		{"on " + strings.Join(ro, " "), model.RoleReadOnly, "~* &* -@all +@read +@connection -@dangerous +info"},
		{"on ~* &* +@all", model.RoleCustom, "~* &* +@all"},
		{"on ~* &* +@all -@dangerous", model.RoleCustom, "~* &* +@all -@dangerous"},
		{"on ~app:* &* +@all -@dangerous +info", model.RoleCustom, "~app:* &* +@all -@admin -flushall -flushdb -keys -migrate -restore -restore-asking -sort -sort_ro -swapdb"},
		{"on " + strings.Join(ro, " ") + " (~x +set)", model.RoleCustom, ""},
		{"on >pw %R~* &* -@all +@read +@connection -@dangerous +info", model.RoleCustom, ""},
	} {
		name := "u" + string(rune('a'+len(us.Names())))
		if err := us.SetUser(name, strings.Fields(tc.rules)...); err != nil {
			t.Fatal(err)
		}
		role, detail := Privilege(us, us.Get(name))
		if role != tc.role || (tc.detail != "" && detail != tc.detail) {
			t.Errorf("%q: %s %q, want %s %q", tc.rules, role, detail, tc.role, tc.detail)
		}
		if strings.Contains(detail, "#") || strings.HasPrefix(detail, "on") || strings.HasPrefix(detail, "off") {
			t.Errorf("%q: the detail %q shows flags or hashes", tc.rules, detail)
		}
	}
}

// ChangeAccounts changes users and the instance's account data in one durable change; a failing fn
// changes nothing; deleting a user — through any path, ACL DELUSER included — drops its description
// and source restriction, so that a user created again under the name starts without them.
func TestChangeAccountsKeepsDataWithItsUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	p, st := openPlane(t, path)
	if err := p.PutInstance(admin, testInstance()); err != nil {
		t.Fatal(err)
	}
	err := p.ChangeAccounts(admin, "CreateAccount", "r-test", func(in *model.Instance, us *acl.Users) error {
		in.Accounts["alice"] = model.Account{Description: "ops"}
		in.UserSources["alice"] = []string{"10.0.0.0/8"}
		return us.SetUser("alice", "on", ">Alice_pw1", "~*", "+@read")
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := p.ChangeAccounts(admin, "X", "r-test", func(in *model.Instance, us *acl.Users) error {
		in.Accounts["alice"] = model.Account{Description: "changed"}
		delete(in.UserSources, "alice")
		_ = us.SetUser("bob", "on")
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("a failing change: %v", err)
	}
	// The source restriction of a user that does not exist is dropped.
	if err := p.ChangeAccounts(admin, "X", "r-test", func(in *model.Instance, us *acl.Users) error {
		in.UserSources["ghost"] = []string{"10.0.0.1"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ = openPlane(t, path)
	in, err := p.Instance("r-test")
	if err != nil {
		t.Fatal(err)
	}
	if in.Accounts["alice"].Description != "ops" || !slices.Equal(in.UserSources["alice"], []string{"10.0.0.0/8"}) || len(in.UserSources) != 1 || len(in.ACL) != 2 {
		t.Fatalf("after the changes: %+v %+v %q", in.Accounts, in.UserSources, in.ACL)
	}
	redis := Actor{KeyID: "redis:default", Source: "127.0.0.2"}
	if err := p.ChangeUsers(redis, "ACL DELUSER", "r-test", func(us *acl.Users) error {
		_, err := us.DelUser("alice")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	in, _ = p.Instance("r-test")
	if in.Accounts != nil || in.UserSources != nil || in.ACL != nil {
		t.Fatalf("after ACL DELUSER alice: accounts %+v sources %+v users %q", in.Accounts, in.UserSources, in.ACL)
	}
}
