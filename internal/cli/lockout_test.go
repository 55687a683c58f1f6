package cli_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
)

// moat check --user shows the brute-force lockout (A5): after 10 wrong passwords for alice from
// 127.0.0.1, her login from there is refused (exit 3) until a time, while the default user's login
// from the same address is allowed.
func TestCLICheckShowsLockout(t *testing.T) {
	e := startMoat(t)
	e.must("whitelist", "modify", "--instance", e.inst, "--group", "local", "--ips", "127.0.0.0/8")
	e.must("acl", "setuser", "--instance", e.inst, "--user", "alice", "--rules", "on >Alice_pw1 ~* +@all")
	c, err := net.DialTimeout("tcp", e.listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 10 {
		if _, err := c.Write([]byte("AUTH alice wrong\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "-WRONGPASS") {
			t.Fatalf("wrong password %d: %q %v", i, line, err)
		}
	}
	r := e.namedGolden("check_lockout", false,
		args("check", "--instance", e.inst, "--from", "127.0.0.1", "--user", "alice"),
		args("check", "--instance", e.inst, "--from", "127.0.0.1", "--user", "alice", "-o", "json"),
		args("check", "--instance", e.inst, "--from", "127.0.0.1", "--user", "default"),
	)
	if r[0].code != cli.ExitRefused || !strings.Contains(r[0].stdout, "locked out until") || r[2].code != 0 {
		t.Errorf("check: %+v", r)
	}
}
