package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend/spec"
)

func TestCheckID(t *testing.T) {
	for id, ok := range map[string]bool{"r-a": true, "r-abc123": true, "r-" + strings.Repeat("a", 62): true,
		"r-" + strings.Repeat("a", 63): false, "r-": false, "R-abc": false, "r-ABC": false, "r-a_b": false, "x-abc": false} {
		if err := CheckID(id); (err == nil) != ok {
			t.Errorf("CheckID(%q) = %v", id, err)
		}
	}
	for i := 0; i < 100; i++ {
		if err := CheckID(NewID()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRandomIsUniformEnough(t *testing.T) {
	const alphabet = "abc" // 256 % 3 != 0: a biased draw would favour "a"
	counts := map[rune]int{}
	for _, c := range Random(alphabet, 30000) {
		counts[c]++
	}
	for _, c := range alphabet {
		if n := counts[c]; n < 9500 || n > 10500 {
			t.Fatalf("%q drawn %d times of 30000", c, n)
		}
	}
}

func TestParams(t *testing.T) {
	in := Instance{Params: map[string]string{"timeout": "30"}}
	if in.IdleTimeout().Seconds() != 30 || in.ParamBool("drop-on-revoke") || in.Param("proto-max-bulk-len") != "536870912" {
		t.Fatalf("params: %v %v %v", in.IdleTimeout(), in.ParamBool("drop-on-revoke"), in.Param("proto-max-bulk-len"))
	}
	for _, bad := range [][2]string{{"timeout", "-1"}, {"timeout", "x"}, {"drop-on-revoke", "true"}, {"nope", "1"}, {"proto-max-bulk-len", "10"}} {
		if err := CheckParam(bad[0], bad[1]); !errors.Is(err, ErrParam) {
			t.Errorf("CheckParam(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:6380": true, "[::1]:6380": true, ":6380": true, "127.0.0.1": false,
		"localhost:6380": false, "127.0.0.1:70000": false, "127.0.0.1:x": false} {
		if err := CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", addr, err)
		}
	}
}

// Validate checks the backend spec with the rest, through CheckBackend: a bad spec is reported with the
// other problems, wraps spec.ErrSpec and does not show its password.
func TestValidateChecksTheBackend(t *testing.T) {
	in := Instance{ID: "r-a", Listen: []string{"127.0.0.1:6380"}, Groups: allowlist.Initial()}
	for _, good := range []string{"", "embedded", "redis://:pw@10.0.0.1:6379/2", "rediss://h?sni=x", "unix:///tmp/r.sock?db=1"} {
		in.Backend = good
		if err := in.Validate(); err != nil {
			t.Errorf("Backend %q: %v", good, err)
		}
	}
	in.Backend, in.Listen = "redis://:hunter2@10.0.0.1:99999", []string{"nope"}
	err := in.Validate()
	if !errors.Is(err, spec.ErrSpec) || !errors.Is(err, ErrListen) {
		t.Fatalf("bad backend and listen: %v, want both reported", err)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), `port "99999"`) {
		t.Errorf("error %q: want the bad port named and the password hidden", err)
	}
	if err := CheckBackend("memcached://h"); !errors.Is(err, spec.ErrSpec) {
		t.Errorf("CheckBackend(memcached://h) = %v", err)
	}
}
