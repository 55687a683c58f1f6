package acl

import (
	"fmt"
	"testing"
	"time"
)

func TestLogGrouping(t *testing.T) {
	l := NewLog(-1)
	t0 := time.Unix(1000, 0)
	e := LogEntry{Reason: LogKey, Context: ContextTopLevel, Object: "k", Username: "u", ClientInfo: "id=1", Time: t0}
	l.Add(e)
	e.ClientInfo, e.Time = "id=2", t0.Add(60*time.Second) // within 60 s: grouped
	l.Add(e)
	if got := l.Entries(10); len(got) != 1 || got[0].Count != 2 || got[0].ClientInfo != "id=2" || !got[0].Time.Equal(t0.Add(60*time.Second)) {
		t.Fatalf("grouping: %+v", got)
	}
	e.Time = t0.Add(121 * time.Second) // more than 60 s after the updated entry: new
	l.Add(e)
	if l.Len() != 2 {
		t.Fatalf("len %d", l.Len())
	}
	// Only the 10 newest entries are looked at.
	for i := range 10 {
		l.Add(LogEntry{Reason: LogCommand, Context: ContextTopLevel, Object: fmt.Sprint("c", i), Username: "u", Time: e.Time})
	}
	l.Add(e)
	if got := l.Entries(1); got[0].Count != 1 || got[0].Object != "k" || l.Len() != 13 {
		t.Fatalf("scan limit: %+v, len %d", got, l.Len())
	}
	l.Add(LogEntry{Reason: LogCommand, Context: ContextTopLevel, Object: "c9", Username: "u", Time: e.Time})
	if got := l.Entries(1); got[0].Object != "c9" || got[0].Count != 2 || l.Len() != 13 {
		t.Fatalf("move to head: %+v", got)
	}
	if got := l.Entries(-3); len(got) != 0 {
		t.Error("negative count")
	}
	l.SetMaxLen(5)
	l.Add(LogEntry{Reason: LogAuth, Context: ContextTopLevel, Object: "AUTH", Username: "x", Time: e.Time})
	if l.Len() != 5 {
		t.Errorf("trim: len %d", l.Len())
	}
	if age := (LogEntry{Time: t0}).AgeSeconds(t0.Add(1500 * time.Millisecond)); age != 1.5 {
		t.Errorf("age %v", age)
	}
	l.Reset()
	if l.Len() != 0 {
		t.Error("reset")
	}
}

// The entries moat builds for denials equal what ACL LOG shows on a real server for the same commands.
func TestLogEntriesMatchRedis(t *testing.T) {
	tbl := mustDefault(t)
	srv, admin := startRedis(t)
	rules := []string{"on", ">pw", "~app:*", "&news", "+@all", "-flushall"}
	admin.do(append([]string{"ACL", "SETUSER", "alice"}, rules...)...)
	us := NewUsers(tbl, Config{})
	if err := us.SetUser("alice", rules...); err != nil {
		t.Fatal(err)
	}
	alice := dialRedis(t, srv.Addr)
	if r := alice.do("AUTH", "alice", "pw"); r.Str != "OK" {
		t.Fatal(r)
	}
	l := NewLog(-1)
	now := time.Now()
	run := [][]string{
		{"GET", "other"}, {"get", "other"}, {"PUBLISH", "chat", "m"}, {"FLUSHALL"}, {"MULTI"}, {"SET", "x", "1"}, {"DISCARD"},
	}
	ctx := ContextTopLevel
	for _, cmd := range run {
		alice.do(cmd...)
		args := bytesArgs(cmd...)
		switch cmd[0] {
		case "MULTI":
			ctx = ContextMulti
			continue
		case "DISCARD":
			ctx = ContextTopLevel
			continue
		}
		c, _ := tbl.Resolve(args)
		d := us.Get("alice").Check(c, args)
		if d.Allowed() {
			t.Fatalf("%q allowed", cmd)
		}
		l.Add(DeniedEntry(d, args, "alice", ctx, "", now))
	}
	alice.do("AUTH", "alice", "wrong")
	l.Add(AuthEntry("AUTH", "alice", ContextTopLevel, "", now))
	alice.do("auth", "nobody", "x")
	l.Add(AuthEntry("auth", "nobody", ContextTopLevel, "", now))

	reply := admin.do("ACL", "LOG")
	mine := l.Entries(10)
	if len(reply.Elems) != len(mine) {
		t.Fatalf("redis has %d entries, moat %d: %s", len(reply.Elems), len(mine), reply)
	}
	for i, e := range reply.Elems {
		f := map[string]Value{}
		for j := 0; j+1 < len(e.Elems); j += 2 {
			f[e.Elems[j].Str] = e.Elems[j+1]
		}
		if len(f) != 7 {
			t.Errorf("entry %d has %d fields", i, len(f))
		}
		m := mine[i]
		got := fmt.Sprint(m.Count, m.Reason, m.Context, m.Object, m.Username)
		want := fmt.Sprint(f["count"].Int, f["reason"].Str, f["context"].Str, f["object"].Str, f["username"].Str)
		if got != want {
			t.Errorf("entry %d: redis %s, moat %s", i, want, got)
		}
	}
}
