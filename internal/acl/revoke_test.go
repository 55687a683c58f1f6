package acl

import "testing"

// Channel revocation (ACLKillPubsubClientsIfNeeded): rules before and after a change, a subscription,
// and whether the subscriber must go. Redis's own verdicts for these are in gateway's
// TestSubscribersKilledWhenChannelsRevoked.
func TestChannelsRevoked(t *testing.T) {
	t.Parallel()
	tbl, err := LoadDefault()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		before, after []string
		name          string
		pattern       bool
		wantKilled    bool
	}{
		{[]string{"&foo:1"}, []string{"resetchannels"}, "foo:1", false, true},
		{[]string{"&foo:1"}, []string{"&foo:2"}, "foo:1", false, false},                  // foo:1 kept
		{[]string{"&foo:1"}, []string{"resetchannels", "&foo:*"}, "foo:1", false, false}, // a channel is glob-matched
		{[]string{"&bar:*"}, []string{"resetchannels", "&bar:x"}, "bar:*", true, true},   // a pattern must be equal
		{[]string{"&bar:*"}, []string{"resetchannels", "&bar:*"}, "bar:*", true, false},
		{[]string{"allchannels"}, []string{"resetchannels"}, "foo", true, true},
		{[]string{"&foo:1"}, []string{"allchannels"}, "foo:1", false, false},
		{[]string{"&foo:1"}, []string{"resetchannels", "(&foo:1 +get)"}, "foo:1", false, false}, // any selector's patterns
		{[]string{"&foo:1"}, []string{"resetchannels", "(&* +get)"}, "x", false, false},         // a selector with all channels
		{[]string{"&foo:1"}, []string{"&foo:1"}, "x", false, false},                             // no change: nobody is judged
	}
	for _, tc := range cases {
		us := NewUsers(tbl, Config{})
		if err := us.SetUser("u", append([]string{"on", "+@all", "~*", "resetchannels"}, tc.before...)...); err != nil {
			t.Fatal(err)
		}
		old := us.Get("u")
		if err := us.SetUser("u", tc.after...); err != nil {
			t.Fatal(err)
		}
		r := ChannelsRevoked(old, us.Get("u"))
		if killed := r != nil && r.Denies([]byte(tc.name), tc.pattern); killed != tc.wantKilled {
			t.Errorf("%q then %q, subscribed to %q (pattern %v): killed %v, want %v", tc.before, tc.after, tc.name, tc.pattern, killed, tc.wantKilled)
		}
	}
	if ChannelsRevoked(nil, NewUsers(tbl, Config{}).Get("default")) != nil {
		t.Error("a user that did not exist before revokes nothing")
	}
}
