package backend

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/redistest"
)

// Issue 15.8: a Redis Cluster node answers MOVED/ASK with other nodes' addresses, which a cluster-aware
// client follows straight past moat. Every Dial refuses such a backend, with the reason in the error.

// clusterServer starts a real redis-server in cluster mode: a single node without slots, its nodes.conf
// in the server's own temp dir.
func clusterServer(t *testing.T, args ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}, args...)...)
}

func TestUpstreamRefusesClusterNode(t *testing.T) {
	srv := clusterServer(t, "--requirepass", "Cl0sterPw", "--user", "mon", "on", ">Cl0sterPw", "~*", "+@all", "-config")
	for _, tc := range []struct{ spec, how string }{
		{"redis://:Cl0sterPw@" + srv.Addr, "CONFIG GET cluster-enabled is yes"},
		{"redis://default:Cl0sterPw@" + srv.Addr + "/0", "CONFIG GET cluster-enabled is yes"},
		{"redis://mon:Cl0sterPw@" + srv.Addr, "INFO cluster reports cluster_enabled:1"}, // CONFIG refused: INFO asked
	} {
		b := openT(t, tc.spec)
		c, err := b.Dial(context.Background())
		if err == nil {
			c.Close()
			t.Fatalf("%s: Dial to a cluster node succeeded; it must be refused", b)
		}
		if !errors.Is(err, ErrCluster) {
			t.Errorf("Dial error %v does not wrap ErrCluster", err)
		}
		want := "backend " + b.String() + ": " + tc.how + ": backend is a Redis Cluster node: moat cannot yet guard MOVED/ASK redirections"
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Dial error\n  %v\nwant it to start with\n  %s", err, want)
		}
		if strings.Contains(err.Error(), "Cl0sterPw") {
			t.Errorf("Dial error shows the password: %v", err)
		}
		if gerr := Guardable(context.Background(), b); !errors.Is(gerr, ErrCluster) {
			t.Errorf("Guardable = %v, want the ErrCluster refusal", gerr)
		}
	}
}

func TestUpstreamRefusesClusterNodeOverUnixSocket(t *testing.T) {
	_, sock := redistest.StartUnix(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	b := openT(t, "unix://"+sock)
	if _, err := b.Dial(context.Background()); !errors.Is(err, ErrCluster) {
		t.Fatalf("Dial to a cluster node over a unix socket: %v, want ErrCluster", err)
	}
}

// A login that may run neither CONFIG nor INFO cannot show the backend is standalone: refused too (deny by default);
// a backend that wants AUTH moat was not given (NOAUTH) relays nothing, and is served as before.
func TestUpstreamClusterCheckRefusedINFO(t *testing.T) {
	srv := redistest.Start(t, "--user", "app", "on", ">apppw", "~*", "+@all", "-info", "-config", "--requirepass", "adminpw")
	b := openT(t, "redis://app:apppw@"+srv.Addr)
	_, err := b.Dial(context.Background())
	if !errors.Is(err, ErrClusterUnknown) || errors.Is(err, ErrCluster) {
		t.Fatalf("Dial as a user without INFO: %v, want ErrClusterUnknown", err)
	}
	if !strings.Contains(err.Error(), "CONFIG GET and INFO cluster refused (NOPERM") || !strings.Contains(err.Error(), "allow moat's backend login the INFO command") {
		t.Errorf("error %q does not say what was refused and what to do", err)
	}
	if gerr := Guardable(context.Background(), b); !errors.Is(gerr, ErrClusterUnknown) {
		t.Errorf("Guardable = %v, want the ErrClusterUnknown refusal", gerr)
	}

	nopw := openT(t, "redis://"+srv.Addr)
	if got := dialR(t, nopw).do("GET", "k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("GET without credentials = %s, want -NOAUTH", got)
	}
}

// A backend that turns out to be a cluster node on reconnect is refused on that Dial; the connection
// made before keeps what it had (the standalone server).
func TestUpstreamClusterOnReconnect(t *testing.T) {
	standalone := redistest.Start(t, "--requirepass", "pw")
	cluster := clusterServer(t, "--requirepass", "pw")
	sw := redistest.StartFront(t, standalone.Addr)
	b := openT(t, "redis://:pw@"+sw.Addr)
	before := dialR(t, b)
	if got := before.do("SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET through the standalone backend: %s", got)
	}
	sw.Switch(cluster.Addr)
	if c, err := b.Dial(context.Background()); !errors.Is(err, ErrCluster) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial after the backend became a cluster node: %v, want ErrCluster", err)
	}
	sw.Switch(standalone.Addr)
	if got := dialR(t, b).do("GET", "k"); got != `"v"` {
		t.Errorf("GET after the standalone server is back: %s", got)
	}
}

// Guardable judges only what moat cannot guard: an unreachable backend is the lanes' to retry.
func TestGuardableUnreachableIsNotRefused(t *testing.T) {
	b := openT(t, "redis://127.0.0.1:"+strconv.Itoa(freePort(t)))
	if err := Guardable(context.Background(), b); err != nil {
		t.Errorf("Guardable of an unreachable backend = %v, want nil", err)
	}
}

// Adversarial replies to CONFIG GET and INFO cluster from a hostile or broken backend: split anywhere, lying about
// lengths, trailing bytes, a cluster line hidden among others. The reply is read exactly, bounded, and
// only a line that is exactly cluster_enabled:1 counts.
func TestReadShortReplyAndClusterLine(t *testing.T) {
	body := "# Cluster\r\ncluster_enabled:1\r\n"
	tests := []struct {
		name    string
		chunks  []string
		want    string
		cluster bool
		wantErr string
	}{
		{"one read", []string{bulk(body)}, body, true, ""},
		{"byte by byte", strings.Split(bulk(body), ""), body, true, ""},
		{"standalone", []string{bulk("# Cluster\r\ncluster_enabled:0\r\n")}, "# Cluster\r\ncluster_enabled:0\r\n", false, ""},
		{"other value", []string{bulk("cluster_enabled:10\r\n")}, "cluster_enabled:10\r\n", false, ""},
		{"a key named so", []string{bulk("xcluster_enabled:1\r\n")}, "xcluster_enabled:1\r\n", false, ""},
		{"among other lines", []string{bulk("foo:bar\r\ncluster_enabled:1\r\nx:y\r\n")}, "foo:bar\r\ncluster_enabled:1\r\nx:y\r\n", true, ""},
		{"error", []string{"-NOPERM no INFO\r\n"}, "-NOPERM no INFO", false, ""},
		{"empty bulk", []string{"$0\r\n\r\n"}, "", false, ""},
		{"trailing bytes", []string{"$1\r\nx\r\n+OK\r\n"}, "", false, "5 unexpected bytes after the reply"},
		{"trailing after error", []string{"-ERR x\r\n+OK\r\n"}, "", false, "5 unexpected bytes after the reply"},
		{"nil bulk", []string{"$-1\r\n"}, "", false, `unexpected reply "$-1"`},
		{"too long", []string{"$99999999\r\n"}, "", false, `unexpected reply "$99999999"`},
		{"status", []string{"+OK\r\n"}, "+OK", false, ""},
		{"no line end", []string{strings.Repeat("-", 2000)}, "", false, `unexpected reply "` + strings.Repeat("-", 64) + `"`},
		{"eof", []string{"$5\r\nab"}, "", false, "EOF"},
		{"no CRLF after the bulk", []string{"$1\r\nxyz\r\n"}, "", false, "bulk string of 1 bytes not followed by CRLF"},
		// CONFIG GET's array: its last element is the value.
		{"config array", strings.Split("*2\r\n"+bulk("cluster-enabled")+bulk("yes"), ""), "yes", false, ""},
		{"empty array", []string{"*0\r\n"}, "", false, ""},
		{"array too long", []string{"*99\r\n"}, "", false, `unexpected reply "*99"`},
		{"array of a status", []string{"*1\r\n+OK\r\n"}, "", false, `unexpected reply "+OK"`},
		{"array cut short", []string{"*2\r\n$1\r\nx\r\n"}, "", false, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reply
			rs, err := readReplies(pipeChunks(t, tt.chunks), 1, maxInfoReply)
			if err == nil {
				r = rs[0]
			}
			got := r.err
			if got == nil {
				got = r.status
			}
			if got == nil && len(r.bulks) > 0 {
				got = r.bulks[len(r.bulks)-1]
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if c := clusterEnabled(got); c != tt.cluster {
				t.Errorf("clusterEnabled(%q) = %v, want %v", got, c, tt.cluster)
			}
		})
	}
}

// bulk is s as a RESP bulk string.
func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
