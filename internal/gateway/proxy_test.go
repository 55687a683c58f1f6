package gateway_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/gateway"
	"github.com/moat-dev/moat/internal/snapshot"
)

const lb = "127.0.0.5" // the trusted load balancer in these tests

// proxySnap allows loopback and 10.1.2.3 and trusts lb's PROXY headers.
func proxySnap(t testing.TB) *snapshot.Snapshot {
	s := compile([]allowlist.Group{group(t, "default", "127.0.0.0/8,10.1.2.3,2001:db8::7")})
	s.ProxyTrusted = []netip.Prefix{netip.MustParsePrefix(lb + "/32")}
	return s
}

func headerV1(src string, port int) string {
	fam := "TCP4"
	if strings.Contains(src, ":") {
		fam = "TCP6"
		return "PROXY " + fam + " " + src + " ::1 " + itoa(port) + " 6379\r\n"
	}
	return "PROXY " + fam + " " + src + " 127.0.0.1 " + itoa(port) + " 6379\r\n"
}

func headerV2(t testing.TB, src string, port int) string {
	ip := net.ParseIP(src)
	dst := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6379}
	if ip.To4() == nil {
		dst.IP = net.IPv6loopback
	}
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: ip, Port: port}, dst)
	b, err := h.Format()
	if err != nil {
		t.Fatalf("format v2 header: %v", err)
	}
	return string(b)
}

func itoa(n int) string { return strconvItoa(n) }

// N5: from a trusted load balancer, v1 and v2 headers are read and the address they carry is the one
// judged (W8), shown (CLIENT LIST) and counted.
func TestProxyHeaderFromTrustedBalancer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, proxySnap(t))
	for _, v := range []struct {
		name   string
		header func(src string, port int) string
	}{
		{"v1", headerV1},
		{"v2", func(src string, port int) string { return headerV2(t, src, port) }},
	} {
		// An allowed client behind the balancer; its first command in the same segment as the header.
		c := dial(t, e.addr, lb)
		c.send(v.header("10.1.2.3", 40001) + cmd("CLIENT", "INFO"))
		info := c.readReply()
		if !strings.Contains(info, " addr=10.1.2.3:40001 ") {
			t.Errorf("%s: CLIENT INFO %q, want addr=10.1.2.3:40001", v.name, info)
		}
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Errorf("%s: PING %q", v.name, got)
		}
		// IPv6 client.
		c6 := dial(t, e.addr, lb)
		c6.send(v.header("2001:db8::7", 40002) + cmd("CLIENT", "INFO"))
		if info := c6.readReply(); !strings.Contains(info, " addr=[2001:db8::7]:40002 ") {
			t.Errorf("%s: CLIENT INFO %q, want addr=[2001:db8::7]:40002", v.name, info)
		}
		// A client the whitelist does not allow, though the balancer is loopback (allowed itself).
		r := dial(t, e.addr, lb)
		r.send(v.header("10.9.9.9", 40003))
		r.expect(illegalAddress)
		r.expectEOF(replyTimeout)
	}
	if got := e.refused("illegal_address"); got != 2 {
		t.Errorf("refused{illegal_address} = %v, want 2", got)
	}
	// The balancer's own connection without a header is a protocol error.
	c := dial(t, e.addr, lb)
	c.send(cmd("PING"))
	c.expect("-ERR Protocol error: expected a PROXY protocol header from this load balancer\r\n")
	c.expectEOF(replyTimeout)
	// v2 LOCAL (the balancer's health check) is judged as the balancer itself.
	local := dial(t, e.addr, lb)
	b, _ := (&proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}).Format()
	local.send(string(b) + cmd("PING"))
	local.expect("+PONG\r\n")
}

// N5: from anyone else, a PROXY header is a protocol error and the connection is closed, on plain and
// TLS listeners, whether or not the instance trusts any balancer.
func TestProxyHeaderFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	for _, trusting := range []bool{true, false} {
		snap := proxySnap(t)
		if !trusting {
			snap.ProxyTrusted = nil
		}
		e := newEnv(t, snap, withTLS(f.source(t, f.options("no"))))
		for name, header := range map[string]string{"v1": headerV1("10.1.2.3", 1), "v2": headerV2(t, "10.1.2.3", 1)} {
			c := dial(t, e.addr, "127.0.0.6")
			c.send(header + cmd("PING"))
			c.expect("-ERR Protocol error: PROXY protocol header from an address not in proxy-protocol\r\n")
			c.expectEOF(replyTimeout)
			// Split over two writes, the signature is still recognised.
			c2 := dial(t, e.addr, "127.0.0.6")
			c2.send(header[:3])
			c2.expectNothing(20 * time.Millisecond)
			c2.send(header[3:])
			c2.expect("-ERR Protocol error: PROXY protocol header from an address not in proxy-protocol\r\n")
			// On the TLS listener the header breaks the handshake; it is counted as a protocol error.
			tc := dial(t, e.tlsAddr(), "127.0.0.6")
			tc.send(header)
			tc.expectEOF(replyTimeout)
			t.Logf("%s refused on both listeners", name)
		}
		if got := e.refused("protocol_error"); got != 6 {
			t.Errorf("trusting=%v: refused{protocol_error} = %v, want 6", trusting, got)
		}
		// Commands that merely start like the signature are commands.
		c := dial(t, e.addr, "127.0.0.6")
		if got := c.do("PING"); got != "+PONG\r\n" {
			t.Errorf("PING from an untrusted peer: %q", got)
		}
	}
}

// N5 with TLS: the header comes first, then the handshake; the carried address is judged before it.
func TestProxyHeaderThenTLS(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	e := newEnv(t, proxySnap(t), withTLS(f.source(t, f.options("no"))))
	for _, allowed := range []bool{true, false} {
		src := "10.1.2.3"
		if !allowed {
			src = "10.9.9.9"
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(lb)}}
		raw, err := d.Dial("tcp", e.tlsAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.Write([]byte(headerV2(t, src, 40010)))
		if !allowed {
			c := (&client{c: raw, br: newReader(raw)}).attach(t)
			c.expect(illegalAddress) // in clear: no handshake for a refused address
			continue
		}
		tc := tls.Client(raw, f.clientConfig(nil))
		c := (&client{c: tc, br: newReader(tc)}).attach(t)
		if info := c.do("CLIENT", "INFO"); !strings.Contains(info, " addr=10.1.2.3:40010 ") {
			t.Errorf("CLIENT INFO over PROXY+TLS: %q", info)
		}
	}
}

// N2 and the per-address limit apply to the address the header carries.
func TestProxyCarriedAddressIsJudged(t *testing.T) {
	t.Parallel()
	snap := proxySnap(t)
	snap.ProtectedMode, snap.DefaultUserNoPass = true, true
	e := newEnv(t, snap)
	c := dial(t, e.addr, lb)
	c.send(headerV1("10.1.2.3", 1))
	c.expect(deniedText)
	c.expectEOF(replyTimeout)
	ok := dial(t, e.addr, lb)
	ok.send(headerV1("127.0.0.9", 2) + cmd("PING")) // a loopback client behind the balancer
	ok.expect("+PONG\r\n")

	snap = proxySnap(t)
	snap.MaxClientsPerIP = 1
	e.gw.Publish(snap)
	first := dial(t, e.addr, lb)
	first.send(headerV1("10.1.2.3", 3) + cmd("PING"))
	first.expect("+PONG\r\n")
	second := dial(t, e.addr, lb)
	second.send(headerV1("10.1.2.3", 4))
	second.expect(maxClientsText)
	other := dial(t, e.addr, lb) // the balancer's address is not what is counted
	other.send(headerV1("127.0.0.10", 5) + cmd("PING"))
	other.expect("+PONG\r\n")
}

// N5: a PROXY header whose client is not a TCP one (v2 over UDP, or a unix socket) is a protocol error,
// whatever address it carries (10.9.9.9 is not whitelisted, 10.1.2.3 is): moat serves TCP clients, and
// judging the balancer in their place would let the balancer's rights stand for any client. A v1
// "PROXY UNKNOWN" is the balancer's own connection, as the protocol says.
func TestProxyHeaderWithoutATCPClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, proxySnap(t))
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6379}
	for _, h := range []*proxyproto.Header{
		{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UDPv4,
			SourceAddr: &net.UDPAddr{IP: net.IPv4(10, 9, 9, 9), Port: 1}, DestinationAddr: dst},
		{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UDPv4,
			SourceAddr: &net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 1}, DestinationAddr: dst},
		{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UnixStream,
			SourceAddr: &net.UnixAddr{Net: "unix", Name: "/run/client"}, DestinationAddr: &net.UnixAddr{Net: "unix", Name: "/run/moat"}},
	} {
		b, err := h.Format()
		if err != nil {
			t.Fatalf("format %#x header: %v", byte(h.TransportProtocol), err)
		}
		c := dial(t, e.addr, lb)
		c.send(string(b) + cmd("PING"))
		c.expect("-ERR Protocol error: the PROXY protocol header carries no TCP client address\r\n")
		c.expectEOF(replyTimeout)
	}
	if got := e.refused("protocol_error"); got != 3 {
		t.Errorf("refused{protocol_error} = %v, want 3", got)
	}
	unknown := dial(t, e.addr, lb)
	unknown.send("PROXY UNKNOWN\r\n" + cmd("CLIENT", "INFO"))
	if info := unknown.readReply(); !strings.Contains(info, " addr="+lb+":") {
		t.Errorf("PROXY UNKNOWN: CLIENT INFO %q, want the balancer's address", info)
	}
}

// N5: the address a PROXY header carries is the one the refusal log names and CLIENT LIST shows; the
// trusted balancer's own address appears in neither.
func TestProxyCarriedAddressInLogAndClientList(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	snap := proxySnap(t)
	snap.MaxClientsPerIP = 1
	e := newEnv(t, snap, withLog(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	// Two admitted clients behind the balancer, one per header version.
	v1 := dial(t, e.addr, lb)
	v1.send(headerV1("10.1.2.3", 40001) + cmd("PING"))
	v1.expect("+PONG\r\n")
	v2 := dial(t, e.addr, lb)
	v2.send(headerV2(t, "2001:db8::7", 40002) + cmd("PING"))
	v2.expect("+PONG\r\n")

	// Refusals of what the headers carry: not whitelisted (v1 and v2), and over the per-address limit.
	// Each line is logged before the reply is written, so it is in the buffer once the reply arrives.
	refused := []struct{ header, reply, client, reason string }{
		{headerV1("10.9.9.9", 40003), illegalAddress, "10.9.9.9:40003", gateway.ReasonIllegalAddress},
		{headerV2(t, "10.9.9.8", 40004), illegalAddress, "10.9.9.8:40004", gateway.ReasonIllegalAddress},
		{headerV1("10.1.2.3", 40005), maxClientsText, "10.1.2.3:40005", gateway.ReasonMaxClients},
	}
	for _, r := range refused {
		c := dial(t, e.addr, lb)
		c.send(r.header)
		c.expect(r.reply)
		c.expectEOF(replyTimeout)
	}
	lines := logs.refusals(t)
	if len(lines) != len(refused) {
		t.Fatalf("%d refusal lines, want %d: %v", len(lines), len(refused), lines)
	}
	for i, r := range refused {
		if lines[i]["client"] != r.client || lines[i]["reason"] != r.reason {
			t.Errorf("refusal %d logged as client=%v reason=%v, want client=%s reason=%s (the carried address, not the balancer %s)",
				i, lines[i]["client"], lines[i]["reason"], r.client, r.reason, lb)
		}
	}

	// CLIENT LIST, asked directly from another loopback client, shows the carried addresses.
	list := dial(t, e.addr, "127.0.0.9").do("CLIENT", "LIST")
	for _, want := range []string{" addr=10.1.2.3:40001 ", " addr=[2001:db8::7]:40002 ", " addr=127.0.0.9:"} {
		if !strings.Contains(list, want) {
			t.Errorf("CLIENT LIST lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "addr="+lb+":") {
		t.Errorf("CLIENT LIST shows the balancer's address:\n%s", list)
	}
	if n := strings.Count(list, " addr="); n != 3 {
		t.Errorf("CLIENT LIST shows %d clients, want 3 (refused connections are gone):\n%s", n, list)
	}
	// The clients behind the balancer still work.
	if got := v1.do("PING"); got != "+PONG\r\n" {
		t.Errorf("PING after the refusals: %q", got)
	}
}
