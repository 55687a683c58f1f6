package gateway_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/moat-dev/moat/internal/gateway"
)

// The refusal of a maxclients above what the process can serve is redis-server's text: redis-server
// refuses a maxclients 16 above the open-files limit it can reach (the hard limit, or fs.nr_open for
// root, which may raise the hard limit) and names that limit less 32; moat, given the same limit,
// names the same number unless it is above the 1000000 moat stores (then that).
func TestConfigSetMaxClientsUnservableMatchesRedis(t *testing.T) {
	t.Parallel()
	reach := openFilesReach(t)
	oracle := aclOracle(t, aclUsers)
	r := dial(t, oracle.Addr, "127.0.0.1")
	r.expectOK("AUTH", "admin", "adminpw")
	value := strconv.Itoa(reach - 16)
	want := r.do("CONFIG", "SET", "maxclients", value)
	if want != unservable(reach-32) {
		t.Fatalf("redis-server with %d open files at most: CONFIG SET maxclients %s: %q", reach, value, want)
	}
	e := newPublishingEnv(t, aclUsers, func(c *gateway.Config) { c.OpenFiles = reach })
	c := dial(t, e.addr, "127.0.0.2")
	c.expectOK("AUTH", "admin", "adminpw")
	if most := min(reach-32, 1000000); most != reach-32 {
		want = strings.Replace(want, "try with "+strconv.Itoa(reach-32), "try with "+strconv.Itoa(most), 1)
	}
	if got := c.do("CONFIG", "SET", "maxclients", value); got != want {
		t.Errorf("CONFIG SET maxclients %s with %d open files: %q, want %q", value, reach, got, want)
	}
}

// openFilesReach is the open-files limit a redis-server this process starts can raise itself to: the
// hard limit, or fs.nr_open when it may raise that (CAP_SYS_RESOURCE).
func openFilesReach(t *testing.T) int {
	t.Helper()
	if sysResource(t) {
		b, err := os.ReadFile("/proc/sys/fs/nr_open")
		if err != nil {
			t.Skipf("fs.nr_open: %v", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatalf("fs.nr_open: %q", b)
		}
		return n
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Max > 1<<31-1 {
		t.Skipf("RLIMIT_NOFILE: %+v, %v", l, err)
	}
	return int(l.Max)
}

// sysResource reports whether this process holds CAP_SYS_RESOURCE (bit 24 of CapEff), which children
// inherit.
func sysResource(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("/proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapEff: %q", v)
			}
			return caps&(1<<24) != 0
		}
	}
	t.Skip("no CapEff in /proc/self/status")
	return false
}
