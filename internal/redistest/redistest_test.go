package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// roundTrip sends one RESP command and returns the first reply line.
func roundTrip(t *testing.T, network, addr string, args ...string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	b.WriteString("*" + itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// configGet returns the value of one redis.conf parameter.
func configGet(t *testing.T, addr, param string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(param), param)
	r := bufio.NewReader(c)
	var lines []string
	for range 5 { // *2, $len, name, $len, value
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v after %q", param, err, lines)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	return lines[4]
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStartAnswersPing(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || s.Port == 0 {
		t.Fatalf("Addr %q Port %d: want 127.0.0.1:<port>", s.Addr, s.Port)
	}
	got, err := roundTrip(t, "tcp", s.Addr, "PING")
	if err != nil || got != "+PONG" {
		t.Fatalf("PING = %q, %v; want +PONG", got, err)
	}
	// Persistence is off, and the working dir is the test's own.
	for _, q := range []struct{ param, want string }{{"appendonly", "no"}, {"save", ""}, {"dir", s.Dir}} {
		if got := configGet(t, s.Addr, q.param); got != q.want {
			t.Errorf("CONFIG GET %s = %q, want %q", q.param, got, q.want)
		}
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		t.Fatalf("Dir %q: %v", s.Dir, err)
	}
}

func TestStartExtraArgs(t *testing.T) {
	s := Start(t, "--requirepass", "pw")
	got, err := roundTrip(t, "tcp", s.Addr, "GET", "k")
	if err != nil || !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("GET without AUTH = %q, %v; want -NOAUTH", got, err)
	}
	got, err = roundTrip(t, "tcp", s.Addr, "AUTH", "pw")
	if err != nil || got != "+OK" {
		t.Fatalf("AUTH pw = %q, %v; want +OK", got, err)
	}
}

func TestStopAndRestartSamePort(t *testing.T) {
	s := Start(t)
	addr := s.Addr
	s.Stop()
	s.Stop() // idempotent
	if _, err := roundTrip(t, "tcp", addr, "PING"); err == nil {
		t.Fatalf("PING after Stop succeeded; want connection refused")
	}
	s.Restart(t)
	if s.Addr != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, s.Addr)
	}
	got, err := roundTrip(t, "tcp", addr, "PING")
	if err != nil || got != "+PONG" {
		t.Fatalf("PING after Restart = %q, %v; want +PONG", got, err)
	}
}

func TestStartUnix(t *testing.T) {
	s, sock := StartUnix(t)
	if s.Port != 0 || s.Addr != "" {
		t.Fatalf("unix server has Addr %q Port %d; want none", s.Addr, s.Port)
	}
	if len(sock) > 100 {
		t.Fatalf("socket path %q is %d bytes, too close to the sun_path limit", sock, len(sock))
	}
	got, err := roundTrip(t, "unix", sock, "PING")
	if err != nil || got != "+PONG" {
		t.Fatalf("PING over %s = %q, %v; want +PONG", sock, got, err)
	}
	s.Stop()
	if _, err := roundTrip(t, "unix", sock, "PING"); err == nil {
		t.Fatalf("PING after Stop succeeded")
	}
	s.Restart(t)
	if got, err := roundTrip(t, "unix", sock, "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
}

func TestManyInParallel(t *testing.T) {
	for i := 0; i < 6; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			s := Start(t)
			if got, err := roundTrip(t, "tcp", s.Addr, "PING"); err != nil || got != "+PONG" {
				t.Fatalf("PING = %q, %v", got, err)
			}
		})
	}
}
