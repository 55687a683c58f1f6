package cli_test

import (
	"strings"
	"testing"
)

// `moat whitelist describe` marks the placeholder 127.0.0.1 as the console does: void (struck through
// there, "(void)" here) once another entry or a bound security group exists, even an empty group; and
// says that every address is refused while it is the only entry. JSON output is the API's, unmarked.
func TestWhitelistDescribeMarksVoidLoopback(t *testing.T) {
	e := startMoat(t)
	describe := func() string { return e.must("whitelist", "describe", "--instance", e.inst).stdout }
	lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

	out := describe()
	if l := lines(out); len(l) != 4 || l[1] != "default  -          127.0.0.1" ||
		l[3] != "Every address is refused: 127.0.0.1 is the only entry and no security group is bound. Add a client address to let it in." {
		t.Fatalf("a new instance:\n%s", out)
	}

	sg := strings.Fields(e.must("sg", "create", "--name", "empty").stdout)
	e.must("instance", "set-security-groups", "--instance", e.inst, "--sg", sg[len(sg)-1])
	out = describe()
	if l := lines(out); len(l) != 4 || l[1] != "default  -          127.0.0.1 (void)" ||
		l[3] != "127.0.0.1 is void: other entries or security groups are in effect (alone it admits nobody)." {
		t.Fatalf("with an empty security group bound:\n%s", out)
	}
	e.must("instance", "set-security-groups", "--instance", e.inst, "--sg", "")

	e.must("whitelist", "modify", "--instance", e.inst, "--group", "default", "--ips", "10.0.0.5,127.0.0.1")
	e.must("whitelist", "modify", "--instance", e.inst, "--group", "local", "--ips", "127.0.0.0/8")
	out = describe()
	if l := lines(out); len(l) != 5 || l[1] != "default  -          10.0.0.5,127.0.0.1 (void)" || l[2] != "local    -          127.0.0.0/8" ||
		!strings.HasPrefix(l[4], "127.0.0.1 is void:") {
		t.Fatalf("127.0.0.1 beside other entries:\n%s", out)
	}
	if js := e.must("whitelist", "describe", "--instance", e.inst, "-o", "json").stdout; strings.Contains(js, "void") {
		t.Errorf("JSON output marked:\n%s", js)
	}

	e.must("whitelist", "modify", "--instance", e.inst, "--group", "default", "--ips", "10.0.0.5")
	if out = describe(); strings.Contains(out, "void") || strings.Contains(out, "refused") {
		t.Errorf("127.0.0.1 not listed, yet marked:\n%s", out)
	}
}
