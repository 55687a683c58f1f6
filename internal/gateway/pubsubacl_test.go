package gateway_test

import (
	"strconv"
	"strings"
	"testing"
)

// revocationUsers: psuser is the subscriber whose channels the cases change; admin changes them.
var revocationUsers = [][]string{
	{"default", "resetpass", ">defpw"},
	{"admin", "on", ">adminpw", "~*", "&*", "+@all"},
	{"psuser", "on", ">pspass", "~*", "+@all", "resetchannels", "&foo:1", "&bar:*", "&orders"},
}

// Channel permissions taken away by ACL SETUSER disconnect the user's subscribers whose subscriptions
// the new rules deny — channels, patterns (compared literally), shard channels, subscriptions made
// inside MULTI — before SETUSER's reply, as redis-server 7.0.15 does; the ones still allowed stay,
// and so does a subscriber whose subscriptions were all undone.
func TestSubscribersKilledWhenChannelsRevoked(t *testing.T) {
	t.Parallel()
	e := newPublishingEnv(t, revocationUsers)
	oracle := aclOracle(t, revocationUsers)
	cases := []struct {
		name        string
		before      []string // psuser's channel rules when the subscriber subscribes
		subscribe   string   // what the subscriber sends after AUTH (one reply frame read per command)
		frames      int
		after       []string // the change
		wantDropped bool     // what redis-server does (checked too)
	}{
		{"channel revoked", []string{"resetchannels", "&foo:1"}, cmd("SUBSCRIBE", "foo:1"), 1, []string{"resetchannels"}, true},
		{"shard channel revoked", []string{"resetchannels", "&foo:1"}, cmd("SSUBSCRIBE", "foo:1"), 1, []string{"resetchannels"}, true},
		{"pattern revoked", []string{"resetchannels", "&bar:*"}, cmd("PSUBSCRIBE", "bar:*"), 1, []string{"resetchannels"}, true},
		{"allchannels revoked", []string{"allchannels"}, cmd("PSUBSCRIBE", "foo"), 1, []string{"resetchannels"}, true},
		{"pattern no longer literal", []string{"resetchannels", "&bar:*"}, cmd("PSUBSCRIBE", "bar:*"), 1, []string{"resetchannels", "&bar:**"}, true},
		{"retained and widened", []string{"resetchannels", "&foo:1", "&bar:*", "&orders"},
			cmd("SUBSCRIBE", "foo:1") + cmd("SSUBSCRIBE", "orders") + cmd("PSUBSCRIBE", "bar:*"), 3,
			[]string{"resetchannels", "&foo:1", "&bar:*", "&orders", "&baz:qaz", "&zoo:*"}, false},
		{"gaining allchannels", []string{"resetchannels", "&foo:1"}, cmd("SUBSCRIBE", "foo:1"), 1, []string{"allchannels"}, false},
		{"channel still matched by a pattern", []string{"resetchannels", "&foo:1"}, cmd("SUBSCRIBE", "foo:1"), 1, []string{"resetchannels", "&foo:*"}, false},
		{"kept by a selector", []string{"resetchannels", "&foo:1"}, cmd("SUBSCRIBE", "foo:1"), 1, []string{"resetchannels", "(&foo:1 +get)"}, false},
		{"unsubscribed first", []string{"resetchannels", "&foo:1"}, cmd("SUBSCRIBE", "foo:1") + cmd("UNSUBSCRIBE"), 2, []string{"resetchannels"}, false},
		{"subscribed in MULTI", []string{"resetchannels", "&foo:1"}, cmd("MULTI") + cmd("SUBSCRIBE", "foo:1") + cmd("EXEC"), 3, []string{"resetchannels"}, true},
		{"discarded in MULTI", []string{"resetchannels", "&foo:1", "&orders"}, cmd("HELLO", "3") + cmd("SUBSCRIBE", "orders") + cmd("MULTI") + cmd("SUBSCRIBE", "foo:1") + cmd("DISCARD"), 5,
			[]string{"resetchannels", "&orders"}, false},
	}
	for i, tc := range cases {
		name := "deathrow" + strconv.Itoa(i) // a closed client of an earlier case may still be listed a moment
		for _, srv := range []struct{ name, addr, from string }{{"redis-server", oracle.Addr, "127.0.0.1"}, {"moat", e.addr, "127.0.0.2"}} {
			admin := dial(t, srv.addr, srv.from)
			admin.expectOK("AUTH", "admin", "adminpw")
			admin.expectOK(append([]string{"ACL", "SETUSER", "psuser", "clearselectors"}, tc.before...)...)
			sub := dial(t, srv.addr, srv.from)
			sub.expectOK("AUTH", "psuser", "pspass")
			sub.expectOK("CLIENT", "SETNAME", name)
			sub.send(tc.subscribe)
			for range tc.frames {
				sub.readReply()
			}
			admin.expectOK(append([]string{"ACL", "SETUSER", "psuser"}, tc.after...)...)
			listed := strings.Contains(admin.do("CLIENT", "LIST"), "name="+name+" ")
			if listed == tc.wantDropped {
				t.Errorf("%s on %s: listed after the change: %v, want %v", tc.name, srv.name, listed, !tc.wantDropped)
			}
			if tc.wantDropped {
				sub.expectEOF(replyTimeout)
			} else if got := sub.do("PING"); got != array(bulk("pong"), bulk("")) && got != "+PONG\r\n" {
				t.Errorf("%s on %s: PING of a pardoned subscriber: %q", tc.name, srv.name, got)
			}
			sub.c.Close()
			admin.c.Close()
		}
	}
}

// The connection making the change is itself a subscriber that loses its channel: it gets SETUSER's
// reply, then is closed.
func TestSubscriberRevokingItself(t *testing.T) {
	t.Parallel()
	users := [][]string{revocationUsers[0], {"self", "on", ">spw", "~*", "+@all", "resetchannels", "&a"}}
	e := newPublishingEnv(t, users)
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "self", "spw")
	c.do("HELLO", "3")
	c.send(cmd("SUBSCRIBE", "a"))
	c.expect(push(bulk("subscribe"), bulk("a"), ":1\r\n"))
	c.expectOK("ACL", "SETUSER", "self", "resetchannels")
	c.expectEOF(replyTimeout)
}
