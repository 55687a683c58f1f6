package backend

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/redistest"
)

func openT(t *testing.T, spec string) Backend {
	t.Helper()
	b, err := Open(spec, t.TempDir(), nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// direct is a connection to the server that bypasses the backend, to see where data really went.
func direct(t *testing.T, network, addr string, auth ...string) *rconn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	r := newRconn(t, c)
	if len(auth) > 0 {
		if got := r.do(append([]string{"AUTH"}, auth...)...); got != "+OK" {
			t.Fatalf("direct AUTH: %s", got)
		}
	}
	return r
}

func TestUpstreamPlain(t *testing.T) {
	srv := redistest.Start(t)
	b := openT(t, "redis://"+srv.Addr)
	if got, want := b.String(), "redis://"+srv.Addr; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	c := dialR(t, b)
	if got := c.do("SET", "greeting", "hello"); got != "+OK" {
		t.Fatalf("SET through backend: %s", got)
	}
	if got := direct(t, "tcp", srv.Addr).do("GET", "greeting"); got != `"hello"` {
		t.Fatalf("GET directly: %s, want the value set through the backend", got)
	}
}

func TestUpstreamRequirePass(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	for _, spec := range []string{
		"redis://:s3cret@" + srv.Addr,        // AUTH password
		"redis://default:s3cret@" + srv.Addr, // AUTH default password
	} {
		b := openT(t, spec)
		c := dialR(t, b)
		if got := c.do("SET", "k", "v"); got != "+OK" {
			t.Errorf("%s: SET after Dial = %s, want +OK (authenticated)", b, got)
		}
		if strings.Contains(b.String(), "s3cret") {
			t.Errorf("String() %q shows the password", b)
		}
	}
	// Without credentials the connection is not authenticated: the gateway must not hand that out
	// as "ready", but Dial itself cannot know the server wants a password.
	b := openT(t, "redis://"+srv.Addr)
	if got := dialR(t, b).do("GET", "k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("GET without configured password = %s, want -NOAUTH", got)
	}
}

func TestUpstreamACLUser(t *testing.T) {
	srv := redistest.Start(t, "--user", "alice", "on", ">secret", "~app:*", "+@all", "--requirepass", "adminpw")
	b := openT(t, "redis://alice:secret@"+srv.Addr)
	c := dialR(t, b)
	if got := c.do("ACL", "WHOAMI"); got != `"alice"` {
		t.Fatalf("ACL WHOAMI = %s, want alice", got)
	}
	if got := c.do("SET", "app:1", "x"); got != "+OK" {
		t.Errorf("SET app:1 as alice = %s", got)
	}
	if got := c.do("SET", "other", "x"); !strings.HasPrefix(got, "-NOPERM") {
		t.Errorf("SET other as alice = %s, want -NOPERM (alice's key patterns apply)", got)
	}
}

func TestUpstreamWrongPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "right")
	for _, tc := range []struct{ spec, name string }{
		{"redis://default:wrong@" + srv.Addr, "redis://default:xxxxx@" + srv.Addr},
		{"redis://:wrong@" + srv.Addr, "redis://:xxxxx@" + srv.Addr},
		{"redis://nobody:wrong@" + srv.Addr + "/2", "redis://nobody:xxxxx@" + srv.Addr + "/2"},
	} {
		b := openT(t, tc.spec)
		c, err := b.Dial(context.Background())
		if err == nil {
			c.Close()
			t.Fatalf("%s: Dial succeeded with a wrong password", tc.spec)
		}
		want := "backend " + tc.name + ": AUTH refused: WRONGPASS invalid username-password pair or user is disabled."
		if err.Error() != want {
			t.Errorf("Dial error\n  %v\nwant\n  %s", err, want)
		}
		if !errors.Is(err, ErrAuth) {
			t.Errorf("Dial error %v does not wrap ErrAuth", err)
		}
		if strings.Contains(err.Error(), "wrong") && !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("Dial error shows the password: %v", err)
		}
	}
}

func TestUpstreamSelectDB(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw")
	b := openT(t, "redis://:pw@"+srv.Addr+"/3")
	c := dialR(t, b)
	// The reply to the first command is the command's, not a left-over of AUTH/SELECT.
	if got := c.do("SET", "where", "three"); got != "+OK" {
		t.Fatalf("SET = %s", got)
	}
	d := direct(t, "tcp", srv.Addr, "pw")
	if got := d.do("GET", "where"); got != "(nil)" {
		t.Errorf("db 0 has the key (%s); want it only in db 3", got)
	}
	d.do("SELECT", "3")
	if got := d.do("GET", "where"); got != `"three"` {
		t.Errorf("db 3: GET = %s, want \"three\"", got)
	}

	bad := openT(t, "redis://:pw@"+srv.Addr+"/16")
	_, err := bad.Dial(context.Background())
	want := "backend redis://:xxxxx@" + srv.Addr + "/16: SELECT 16 refused: ERR DB index is out of range"
	if err == nil || err.Error() != want || !errors.Is(err, ErrSelect) {
		t.Errorf("Dial to db 16 of 16: %v, want %s", err, want)
	}
}

func TestUpstreamUnixSocket(t *testing.T) {
	srv, sock := redistest.StartUnix(t, "--user", "bob", "on", ">pw", "~*", "+@all")
	b := openT(t, "unix://"+sock+"?db=2&user=bob&password=pw")
	if got, want := b.String(), "unix://"+sock+"?db=2&password=xxxxx&user=bob"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	c := dialR(t, b)
	if got := c.do("ACL", "WHOAMI"); got != `"bob"` {
		t.Errorf("ACL WHOAMI over unix socket = %s", got)
	}
	c.do("SET", "u", "1")
	d := direct(t, "unix", sock)
	d.do("SELECT", "2")
	if got := d.do("GET", "u"); got != `"1"` {
		t.Errorf("key set through unix backend is not in db 2: %s", got)
	}

	srv.Stop()
	_, err := b.Dial(context.Background())
	if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), sock) {
		t.Errorf("Dial to a stopped unix server: %v, want ErrUnavailable naming the socket", err)
	}
}

func TestUpstreamStopAndRestart(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw")
	b := openT(t, "redis://:pw@"+srv.Addr)
	old := dialR(t, b)
	if got := old.do("PING"); got != "+PONG" {
		t.Fatalf("PING = %s", got)
	}

	srv.Stop()
	if got := old.do("PING"); got != "(closed)" && !strings.HasPrefix(got, "(error") {
		t.Errorf("PING on a connection to a killed server = %s, want closed", got)
	}
	start := time.Now()
	_, err := b.Dial(context.Background())
	took := time.Since(start)
	if err == nil {
		t.Fatal("Dial to a stopped server succeeded")
	}
	if took > 2500*time.Millisecond {
		t.Errorf("Dial to a stopped server took %v, want fast failure", took)
	}
	want := "backend redis://:xxxxx@" + srv.Addr + ": unreachable: dial tcp " + srv.Addr + ": connect: connection refused"
	if err.Error() != want || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Dial error\n  %v\nwant\n  %s", err, want)
	}

	srv.Restart(t)
	if got := dialR(t, b).do("PING"); got != "+PONG" {
		t.Errorf("PING after the server came back = %s", got)
	}
}

// silentServer accepts connections and never answers: a hung backend.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestUpstreamHungServerHonoursDeadlines(t *testing.T) {
	addr := silentServer(t)
	b := openT(t, "redis://:pw@"+addr)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Dial(ctx)
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("Dial with a 200ms deadline to a silent server: %v after %v", err, took)
	}
	if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("error %v: want a handshake timeout", err)
	}

	// Cancellation (not only deadlines) ends the handshake at once.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = b.Dial(ctx)
	if took := time.Since(start); err == nil || took > time.Second {
		t.Fatalf("cancelled Dial: %v after %v", err, took)
	}

	// Without a ctx deadline, the answer timeout bounds the wait (AnswerTimeout, shortened here).
	const answer = 500 * time.Millisecond
	b.(*upstream).answer = answer
	start = time.Now()
	_, err = b.Dial(context.Background())
	if took := time.Since(start); err == nil || took < answer-100*time.Millisecond || took > answer+time.Second {
		t.Errorf("Dial without deadline to a silent server: %v after %v, want failure after ~%v", err, took, answer)
	}
}

// A backend that is connected but busy (DEBUG SLEEP stands for a long command, or a large reply being
// made) answers a new connection once free, as it answers its own clients: Dial waits for it past
// DialTimeout, in one round trip (AUTH, SELECT and the cluster question in one write).
func TestUpstreamBusyServerIsWaitedFor(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw", "--enable-debug-command", "yes")
	b := openT(t, "redis://:pw@"+srv.Addr+"/1")
	busy := direct(t, "tcp", srv.Addr, "pw")
	const sleep = DialTimeout + time.Second
	if _, err := busy.c.Write(appendCommand(nil, "DEBUG", "SLEEP", strconv.FormatFloat(sleep.Seconds(), 'f', 1, 64))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the sleep has begun
	start := time.Now()
	c, err := b.Dial(context.Background())
	if err != nil {
		t.Fatalf("Dial while the backend is busy for %v: %v", sleep, err)
	}
	defer c.Close()
	if took := time.Since(start); took < DialTimeout {
		t.Errorf("Dial took %v while the backend slept %v: it did not wait for it", took, sleep)
	}
	if got := busy.read(); got != "+OK" {
		t.Errorf("DEBUG SLEEP: %q", got)
	}
}

func TestUpstreamConcurrentDials(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw")
	b := openT(t, "redis://:pw@"+srv.Addr+"/1")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := b.Dial(context.Background())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			key := "k" + strconv.Itoa(i)
			_, _ = c.Write(appendCommand(nil, "INCR", key))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := io.ReadAtLeast(c, buf, 4)
			if err != nil || string(buf[:n]) != ":1\r\n" {
				errs <- errors.New("INCR reply " + strconv.Quote(string(buf[:n])))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestUpstreamClose(t *testing.T) {
	srv := redistest.Start(t)
	b := openT(t, "redis://"+srv.Addr)
	live := dialR(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := b.Dial(context.Background())
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v, want ErrClosed", err)
	}
	if got := live.do("PING"); got != "+PONG" {
		t.Errorf("connection dialled before Close: PING = %s, want it still open", got)
	}
}

// The handshake reader takes exactly the replies it asked for, whatever the segmentation.
func TestReadStatusReplies(t *testing.T) {
	tests := []struct {
		name    string
		chunks  []string
		n       int
		want    []string
		wantErr string
	}{
		{"one read", []string{"+OK\r\n+OK\r\n"}, 2, []string{"+OK", "+OK"}, ""},
		{"byte by byte", strings.Split("+OK\r\n-ERR DB index is out of range\r\n", ""), 2,
			[]string{"+OK", "-ERR DB index is out of range"}, ""},
		{"split CRLF", []string{"-WRONGPASS x\r", "\n"}, 1, []string{"-WRONGPASS x"}, ""},
		{"extra bytes", []string{"+OK\r\n$4\r\nPONG\r\n"}, 1, nil, "10 unexpected bytes after the replies"},
		{"not a status", []string{"$2\r\nOK\r\n"}, 1, nil, `unexpected reply "$2"`},
		{"eof", []string{"+OK\r"}, 1, nil, "EOF"},
		{"too long", []string{"-" + strings.Repeat("x", 5000)}, 1, nil, "handshake reply longer than 4096 bytes"},
		// The bound is per reply: 10,000 identities' ACL SETUSERs are answered with 50,000 bytes.
		{"many replies", []string{strings.Repeat("+OK\r\n", 10000)}, 10000, slices.Repeat([]string{"+OK"}, 10000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := pipeChunks(t, tt.chunks)
			got, err := readStatusReplies(client, tt.n)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// pipeChunks returns the client end of a pipe whose server writes chunks, one Write each, then closes.
func pipeChunks(t *testing.T, chunks []string) net.Conn {
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close() })
	go func() {
		for _, c := range chunks {
			if _, err := server.Write([]byte(c)); err != nil {
				return
			}
		}
		server.Close()
	}()
	return client
}

// tlsFiles writes a self-signed CA and a server certificate for 127.0.0.1 and redis.test.
func tlsFiles(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "moat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"redis.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("server.crt", "CERTIFICATE", der), write("server.key", "EC PRIVATE KEY", keyDER), write("ca.crt", "CERTIFICATE", caDER)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestUpstreamTLS(t *testing.T) {
	cert, key, ca := tlsFiles(t)
	tlsPort := freePort(t)
	redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--requirepass", "pw")
	tlsAddr := "127.0.0.1:" + strconv.Itoa(tlsPort)

	// Verification against the system roots refuses a private CA.
	b := openT(t, "rediss://:pw@"+tlsAddr)
	_, err := b.Dial(context.Background())
	if err == nil || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "TLS: tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Errorf("Dial to a server with a private CA: %v, want a certificate verification error", err)
	}

	for _, spec := range []string{
		"rediss://:pw@" + tlsAddr + "/5?insecure_skip_verify=true",
		"rediss://:pw@" + tlsAddr + "/5?insecure_skip_verify=true&sni=redis.test",
	} {
		b := openT(t, spec)
		c, err := b.Dial(context.Background())
		if err != nil {
			t.Fatalf("%s: Dial: %v", spec, err)
		}
		tc, ok := c.(*tls.Conn)
		if !ok {
			t.Fatalf("%s: Dial returned %T, want a TLS connection", spec, c)
		}
		if want := map[bool]string{true: "redis.test", false: ""}[strings.Contains(spec, "sni=")]; tc.ConnectionState().ServerName != want {
			t.Errorf("%s: SNI %q, want %q", spec, tc.ConnectionState().ServerName, want)
		}
		r := newRconn(t, c)
		if got := r.do("SET", "tls", "yes"); got != "+OK" {
			t.Errorf("%s: SET over TLS = %s", spec, got)
		}
	}
}

// The connection Dial returns has nothing pending: a pipelined command right after Dial gets exactly
// its own reply, byte for byte.
func TestUpstreamNoLeftoverBytes(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "pw")
	b := openT(t, "redis://default:pw@"+srv.Addr+"/7")
	c, err := b.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(appendCommand(appendCommand(nil, "PING"), "ECHO", "x")); err != nil {
		t.Fatal(err)
	}
	want := []byte("+PONG\r\n$1\r\nx\r\n")
	got := make([]byte, len(want))
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("first bytes after Dial = %q, %v; want %q", got, err, want)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Errorf("Dial returned %T; a plain *net.TCPConn keeps the kernel's splice path open", c)
	}
}
