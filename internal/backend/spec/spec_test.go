package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpecGood(t *testing.T) {
	tests := []struct {
		in     string
		want   Spec
		string string // String(): normalised, password redacted
	}{
		{"", Spec{Kind: KindAuto}, "auto"},
		{"auto", Spec{Kind: KindAuto}, "auto"},
		{"managed", Spec{Kind: KindManaged}, "managed"},
		{"embedded", Spec{Kind: KindEmbedded}, "embedded"},
		{"redis://127.0.0.1", Spec{Kind: KindRedis, Addr: "127.0.0.1:6379"}, "redis://127.0.0.1:6379"},
		{"redis://cache.internal:7001", Spec{Kind: KindRedis, Addr: "cache.internal:7001"}, "redis://cache.internal:7001"},
		{"REDIS://h:7001/", Spec{Kind: KindRedis, Addr: "h:7001"}, "redis://h:7001"},
		{"redis://:s3cret@h:7001/3", Spec{Kind: KindRedis, Addr: "h:7001", Password: "s3cret", DB: 3},
			"redis://:xxxxx@h:7001/3"},
		{"redis://default:s3cret@127.0.0.1:7001", Spec{Kind: KindRedis, Addr: "127.0.0.1:7001", User: "default", Password: "s3cret"},
			"redis://default:xxxxx@127.0.0.1:7001"},
		{"redis://alice@h", Spec{Kind: KindRedis, Addr: "h:6379", User: "alice"}, "redis://alice@h:6379"},
		// Percent-encoded password with the characters that would otherwise end the userinfo.
		{"redis://alice:p%40ss%2Fw%3Ard@h:1/15", Spec{Kind: KindRedis, Addr: "h:1", User: "alice", Password: "p@ss/w:rd", DB: 15},
			"redis://alice:xxxxx@h:1/15"},
		{"redis://[::1]:7001", Spec{Kind: KindRedis, Addr: "[::1]:7001"}, "redis://[::1]:7001"},
		{"rediss://h", Spec{Kind: KindRediss, Addr: "h:6379"}, "rediss://h:6379"},
		{"rediss://u:pw@10.0.0.5:6380/2?sni=redis.example.com&insecure_skip_verify=true",
			Spec{Kind: KindRediss, Addr: "10.0.0.5:6380", User: "u", Password: "pw", DB: 2, ServerName: "redis.example.com", InsecureSkipVerify: true},
			"rediss://u:xxxxx@10.0.0.5:6380/2?insecure_skip_verify=true&sni=redis.example.com"},
		{"rediss://h?insecure_skip_verify=false", Spec{Kind: KindRediss, Addr: "h:6379"}, "rediss://h:6379"},
		{"unix:///run/redis/redis.sock", Spec{Kind: KindUnix, Addr: "/run/redis/redis.sock"}, "unix:///run/redis/redis.sock"},
		{"unix:///tmp/r.sock?db=4&user=alice&password=s3cret",
			Spec{Kind: KindUnix, Addr: "/tmp/r.sock", DB: 4, User: "alice", Password: "s3cret"},
			"unix:///tmp/r.sock?db=4&password=xxxxx&user=alice"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.string {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, tt.string)
		}
		// String() is itself a spec for the same backend, except for the redacted password.
		again, err := Parse(got.String())
		if err != nil {
			t.Errorf("Parse(String() %q): %v", got.String(), err)
			continue
		}
		again.Password = got.Password
		if again != got {
			t.Errorf("round trip of %q: %+v, want %+v", tt.in, again, got)
		}
	}
}

func TestParseSpecBad(t *testing.T) {
	tests := []struct {
		in   string
		want string // the error text after `bad backend spec "<redacted spec>": `
	}{
		{"Embedded", `"Embedded" is neither "auto", "managed", "embedded" nor a URL (redis://, rediss://, unix://)`},
		{"127.0.0.1:6379", `"127.0.0.1:6379" is neither "auto", "managed", "embedded" nor a URL (redis://, rediss://, unix://)`},
		{"http://h:80", `scheme "http": want redis, rediss or unix`},
		{"memcached://u:pw@h", `scheme "memcached": want redis, rediss or unix`},
		{"redis://", `host: missing`},
		{"redis://:pw@:7001", `host: missing`},
		{"redis://:00:1", `host ":00": want a host name or an IP address`},
		{"redis://h:0", `port "0": want 1-65535`},
		{"redis://h:65536", `port "65536": want 1-65535`},
		{"redis://h:", `port "": want 1-65535`},
		{"redis://u:pw@h:70000/x", `db number "x": want an integer 0 or more; port "70000": want 1-65535`},
		{"redis://h/-1", `db number "-1": want an integer 0 or more`},
		{"redis://h/1/2", `db number "1/2": want an integer 0 or more`},
		{"redis://h/99999999999", `db number "99999999999": want an integer 0 or more`},
		{"redis://h?sni=x", `query parameter "sni": unknown for redis://`},
		{"redis://h?db=1", `query parameter "db": unknown for redis://`},
		{"rediss://h?insecure_skip_verify=yes please", `insecure_skip_verify "yes please": want true or false`},
		{"rediss://h?sni=", `sni: empty`},
		{"rediss://h?timeout=1s", `query parameter "timeout": unknown for rediss://`},
		{"redis://h#frag", `fragment: not allowed`},
		{"unix://", `socket path: missing`},
		{"unix://run/redis.sock", `host "run": not allowed, write unix:///absolute/path.sock`},
		{"unix:///r.sock?db=two", `db number "two": want an integer 0 or more`},
		{"unix:///r.sock?pass=pw&db=1", `query parameter "pass": unknown for unix:// (want db, user, password)`},
		{"unix://u:pw@/r.sock", `user info: not allowed in unix://, use ?user=...&password=...`},
		{"unix:///" + strings.Repeat("d", 120) + ".sock", `socket path: 126 bytes, longer than the 103 a unix socket allows`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if !errors.Is(err, ErrSpec) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSpec", tt.in, err)
		}
		if !strings.HasPrefix(err.Error(), "bad backend spec ") || !strings.HasSuffix(err.Error(), ": "+tt.want) {
			t.Errorf("Parse(%q) error\n  %s\nwant it to end in\n  %s", tt.in, err, tt.want)
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("Parse(%q) error shows the password: %s", tt.in, err)
		}
	}
}

// A spec url.Parse rejects is still named, with the password hidden.
func TestParseSpecUnparsableRedacted(t *testing.T) {
	for _, in := range []string{
		"redis://alice:hunter2@h:port",
		"redis://alice:hunter2@h:7001/%zz",
		"unix:///r.sock?password=hunter2&db=%zz",
	} {
		_, err := Parse(in)
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) error shows the password: %s", in, err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("Parse(%q) error %q does not show where the password was", in, err)
		}
	}
}

func TestSpecStringNeverShowsPassword(t *testing.T) {
	for _, s := range []Spec{
		{Kind: KindRedis, Addr: "h:1", Password: "hunter2"},
		{Kind: KindRedis, Addr: "h:1", User: "u", Password: "hunter2"},
		{Kind: KindRediss, Addr: "h:1", User: "hunter", Password: "hunter2", ServerName: "x"},
		{Kind: KindUnix, Addr: "/s", Password: "hunter2"},
		{Kind: KindUnix, Addr: "/s", User: "u", Password: "hunter2", DB: 1},
		{Kind: "bogus", Password: "hunter2"},
	} {
		if got := s.String(); strings.Contains(got, "hunter2") {
			t.Errorf("%#v.String() = %q shows the password", s, got)
		}
	}
}

func TestRedactRaw(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://u:pw@h:1", "redis://u:xxxxx@h:1"},
		{"redis://:pw@h", "redis://:xxxxx@h"},
		{"redis://u:p@w@h/0", "redis://u:xxxxx@h/0"},
		{"redis://u@h", "redis://u@h"},
		{"redis://h/a@b", "redis://h/a@b"},
		{"unix:///s?user=u&password=pw", "unix:///s?user=u&password=xxxxx"},
		{"unix:///s?db=1&pass=pw&PassWord=pw&sni=x", "unix:///s?db=1&pass=xxxxx&PassWord=xxxxx&sni=x"},
		{"embedded", "embedded"},
	}
	for _, tt := range tests {
		if got := redactRaw(tt.in); got != tt.want {
			t.Errorf("redactRaw(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"embedded", "redis://u:pw@h:1/2", "rediss://h?sni=x&insecure_skip_verify=1",
		"unix:///s?db=1&user=u&password=pw", "redis://[::1]:0", "unix://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			return
		}
		// String() does not depend on the password's value.
		other := s
		other.Password = "different" + s.Password
		if s.Password != "" && other.String() != s.String() {
			t.Fatalf("String() %q depends on the password (%q with another one)", s.String(), other.String())
		}
		if _, err := Parse(s.String()); err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", s.String(), in, err)
		}
	})
}
