// Command gen writes internal/acl/commands.json: the command table of a real redis-server, read from its
// COMMAND reply with the same loader the gateway uses for a live backend (acl.ReadCommandReply).
//
// Regenerate (only when moving to another reference Redis version; the committed file is from
// redis-server 7.0.15, Debian 12's package):
//
//	cd internal/acl && go generate    # runs: go run ./gen -o commands.json
//
// By default gen starts its own redis-server (from PATH, or -server) on a free 127.0.0.1 port with
// persistence off and stops it afterwards; -addr uses a server that is already running instead. It
// refuses a server whose version is not -want (default 7.0.15) unless -want is empty.
//
// A build tool run by go generate; nothing imports it, and it imports only acl.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/acl"
)

func main() {
	addr := flag.String("addr", "", "use the redis-server at host:port instead of starting one")
	server := flag.String("server", "redis-server", "redis-server binary to start when -addr is empty")
	want := flag.String("want", "7.0.15", "required redis_version (empty: any)")
	out := flag.String("o", "commands.json", "output file")
	flag.Parse()
	if err := run(*addr, *server, *want, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(addr, server, want, out string) error {
	if addr == "" {
		a, stop, err := start(server)
		if err != nil {
			return err
		}
		defer stop()
		addr = a
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(conn, 64<<10)

	version, err := redisVersion(conn, r)
	if err != nil {
		return err
	}
	if want != "" && version != want {
		return fmt.Errorf("server is redis %s, want %s (-want '' to accept it)", version, want)
	}
	if _, err := conn.Write([]byte("*1\r\n$7\r\nCOMMAND\r\n")); err != nil {
		return err
	}
	t, err := acl.ReadCommandReply(r, "redis-server "+version+" COMMAND")
	if err != nil {
		return err
	}
	data, err := t.MarshalJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("gen: wrote %s: %d commands and subcommands from redis %s\n", out, t.Len(), version)
	return nil
}

// redisVersion reads redis_version from INFO server.
func redisVersion(conn net.Conn, r *bufio.Reader) (string, error) {
	if _, err := conn.Write([]byte("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")); err != nil {
		return "", err
	}
	v, err := acl.ReadValue(r)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(v.Str, "\r\n") {
		if after, ok := strings.CutPrefix(line, "redis_version:"); ok {
			return after, nil
		}
	}
	return "", errors.New("INFO server has no redis_version")
}

// start runs redis-server on a free port and returns its address and a stop function.
func start(bin string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "acl-gen")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s did not start on %s", bin, addr)
}
