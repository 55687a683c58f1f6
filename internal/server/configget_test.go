package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/cli"
	"github.com/moat-dev/moat/internal/redistest"
	"github.com/moat-dev/moat/internal/resp"
)

// rawConn is a client connection that sends RESP arrays and returns each reply whole, as received,
// for byte-for-byte comparisons.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends args as one command and returns its reply's bytes.
func (r *rawConn) do(args ...string) string {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := io.WriteString(r.c, b.String()); err != nil {
		r.t.Fatal(err)
	}
	var out strings.Builder
	w := bufio.NewWriter(&out)
	if err := resp.CopyReply(w, r.br, nil); err != nil {
		r.t.Fatalf("%q: %v", args, err)
	}
	w.Flush()
	return out.String()
}

// CONFIG GET requirepass and acllog-max-len through moat answer the instance's parameters as the
// control plane holds them, whoever set them (ModifyInstanceConfig, the plane itself as the CLI and the
// config file do), in a gateway started after they were set and after each live change; byte for byte
// what redis-server answers with the same requirepass. As in Redis, a change of the default user's
// password by other means (ResetAccountPassword, like ACL SETUSER) leaves CONFIG GET requirepass alone.
func TestConfigGetRequirePassIsTheInstanceParameter(t *testing.T) {
	const pw1, pw2, pw3 = `Api pw"1 é`, "second_PW", "third-pw"
	dir := t.TempDir()
	backend := redistest.Start(t)
	oracle := redistest.Start(t, "--requirepass", pw1)
	listen := freeAddr(t)
	opts := Options{DataDir: dir, Listen: listen, Backend: "redis://" + backend.Addr}
	s := start(t, opts)
	insts, err := s.Plane().Instances()
	if err != nil {
		t.Fatal(err)
	}
	id := insts[0].ID
	setConfig := func(admin *cli.Client, params map[string]string) {
		t.Helper()
		b, _ := json.Marshal(params)
		if err := admin.Call("ModifyInstanceConfig", map[string]string{"InstanceId": id, "Config": string(b)}, nil); err != nil {
			t.Fatalf("ModifyInstanceConfig %s: %v", b, err)
		}
	}
	first := adminClient(t, s)
	if err := first.Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}
	setConfig(first, map[string]string{"requirepass": pw1, "acllog-max-len": "7"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = start(t, opts) // a gateway that never saw the change
	defer s.Close()
	admin := adminClient(t, s)
	moat, redis := dialRaw(t, listen), dialRaw(t, oracle.Addr)
	both := func(what string, args ...string) string {
		t.Helper()
		m, r := moat.do(args...), redis.do(args...)
		if m != r {
			t.Errorf("%s: %q:\nmoat:  %q\nredis: %q", what, args, m, r)
		}
		return m
	}
	both("login", "AUTH", pw1)
	if got := both("after a restart", "CONFIG", "GET", "requirepass"); !strings.Contains(got, pw1) {
		t.Errorf("CONFIG GET requirepass after a restart: %q", got)
	}
	redis.do("CONFIG", "SET", "acllog-max-len", "7")
	both("acllog-max-len after a restart", "CONFIG", "GET", "acllog-max-len")

	setConfig(admin, map[string]string{"requirepass": pw2})
	redis.do("CONFIG", "SET", "requirepass", pw2)
	both("after ModifyInstanceConfig", "CONFIG", "GET", "requirepass")
	moat.do("HELLO", "3") // client IDs differ
	redis.do("HELLO", "3")
	both("after ModifyInstanceConfig, RESP3", "CONFIG", "GET", "requirepass")
	moat.do("HELLO", "2")
	redis.do("HELLO", "2")

	// The plane's own path, which `moat instance set --param` and a config file's parameters take.
	if err := s.Plane().SetParams(configActor, id, map[string]string{"requirepass": pw3, "acllog-max-len": "9"}); err != nil {
		t.Fatal(err)
	}
	redis.do("CONFIG", "SET", "requirepass", pw3, "acllog-max-len", "9")
	both("after the plane's SetParams", "CONFIG", "GET", "requirepass")
	both("acllog-max-len after the plane's SetParams", "CONFIG", "GET", "acllog-max-len")

	// The default user's password changed as an account: the parameter stays, as in Redis.
	if err := admin.Call("ResetAccountPassword", map[string]string{"InstanceId": id, "AccountName": "default", "AccountPassword": "Account_pw4"}, nil); err != nil {
		t.Fatal(err)
	}
	redis.do("ACL", "SETUSER", "default", "resetpass", ">Account_pw4")
	both("after ResetAccountPassword default", "CONFIG", "GET", "requirepass")
	both("login with the account's password", "AUTH", "Account_pw4")

	setConfig(admin, map[string]string{"requirepass": ""})
	redis.do("CONFIG", "SET", "requirepass", "")
	both("after an empty requirepass", "CONFIG", "GET", "requirepass")
	both("no password", "AUTH", "x")
}

// A CONFIG SET mixing moat's parameters with the backend's goes through the control plane as a whole:
// applied together (the instance's stored parameters, the backend's), or not at all when the plane
// refuses moat's part (a requirepass over its 4096-byte bound), the backend's part then set back.
func TestConfigSetMixedThroughTheControlPlane(t *testing.T) {
	dir := t.TempDir()
	backend := redistest.Start(t)
	listen := freeAddr(t)
	s := start(t, Options{DataDir: dir, Listen: listen, Backend: "redis://" + backend.Addr})
	defer s.Close()
	insts, err := s.Plane().Instances()
	if err != nil {
		t.Fatal(err)
	}
	id := insts[0].ID
	if err := adminClient(t, s).Call("ModifySecurityIps", map[string]string{"InstanceId": id, "SecurityIpGroupName": "local", "SecurityIps": "127.0.0.0/8"}, nil); err != nil {
		t.Fatal(err)
	}
	c, direct := dialRaw(t, listen), dialRaw(t, backend.Addr)
	const hz10 = "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"
	if got := c.do("CONFIG", "SET", "hz", "20", "requirepass", strings.Repeat("x", 4097)); got != "-ERR There was an error trying to save the ACLs. Please check the server logs for more information\r\n" {
		t.Errorf("a requirepass the plane refuses beside hz: %q", got)
	}
	if got := direct.do("CONFIG", "GET", "hz"); got != hz10 {
		t.Errorf("the backend's hz after moat's part failed: %q", got)
	}
	if in, err := s.Plane().Instance(id); err != nil || in.RequirePass != "" || len(in.ACL) != 0 {
		t.Errorf("the instance after moat's part failed: %+v %v", in, err)
	}
	if got := c.do("CONFIG", "SET", "hz", "21", "requirepass", "mixed_pw", "acllog-max-len", "5"); got != "+OK\r\n" {
		t.Fatalf("mixed CONFIG SET: %q", got)
	}
	if got := direct.do("CONFIG", "GET", "hz"); got != "*2\r\n$2\r\nhz\r\n$2\r\n21\r\n" {
		t.Errorf("the backend's hz: %q", got)
	}
	if in, err := s.Plane().Instance(id); err != nil || in.RequirePass != "mixed_pw" || in.Params["acllog-max-len"] != "5" {
		t.Errorf("the instance: %+v %v", in, err)
	}
	fresh := dialRaw(t, listen)
	if got := fresh.do("AUTH", "mixed_pw") + fresh.do("CONFIG", "GET", "requirepass"); got != "+OK\r\n*2\r\n$11\r\nrequirepass\r\n$8\r\nmixed_pw\r\n" {
		t.Errorf("a new connection: %q", got)
	}
}

// A requirepass declared in the config file is what CONFIG GET requirepass answers from the start; one
// set by CONFIG SET replaces it until the next start applies the declared one again, as redis.conf's
// does without CONFIG REWRITE.
func TestConfigGetRequirePassDeclaredInTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	backend := redistest.Start(t)
	listen := freeAddr(t)
	cfgPath := filepath.Join(dir, "moat.yaml")
	writeConfig(t, cfgPath, "instances:\n  - id: r-decl\n    listen: ["+listen+"]\n    backend: redis://"+backend.Addr+
		"\n    params:\n      requirepass: decl_pw\n    whitelist:\n      - group: local\n        ips: [127.0.0.0/8]\n")
	get := func(c *rawConn, pw string) string {
		t.Helper()
		return c.do("AUTH", pw) + c.do("CONFIG", "GET", "requirepass")
	}
	want := func(pw string) string {
		return "+OK\r\n*2\r\n$11\r\nrequirepass\r\n$" + strconv.Itoa(len(pw)) + "\r\n" + pw + "\r\n"
	}
	s := start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	c := dialRaw(t, listen)
	if got := get(c, "decl_pw"); got != want("decl_pw") {
		t.Errorf("declared: %q", got)
	}
	if got := c.do("CONFIG", "SET", "requirepass", "client_pw"); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q", got)
	}
	if got := get(dialRaw(t, listen), "client_pw"); got != want("client_pw") {
		t.Errorf("after CONFIG SET: %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = start(t, Options{ConfigPath: cfgPath, DataDir: dir})
	defer s.Close()
	if got := get(dialRaw(t, listen), "decl_pw"); got != want("decl_pw") {
		t.Errorf("after a restart: %q", got)
	}
}
