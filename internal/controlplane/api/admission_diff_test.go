package api_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// A differential test of the admission verdict (issue 15): generated configurations (whitelist groups,
// bound security groups with hosts, password-free VPC access, protected mode, a default-user password,
// #no_loose_check-whitelist-always, trusted PROXY load balancers) and generated clients (direct from
// 127.0.x.y, or behind a load balancer whose PROXY header carries any address, on the plain or the TLS
// listener). For each, CheckAccess's verdict through the real API handler must equal what a real TCP
// connection gets from the running gateway: admitted (PING answered: +PONG, or -NOAUTH where a password
// is needed) or refused with exactly the reply CheckAccess names.
func TestCheckAccessEqualsTheGateway(t *testing.T) {
	m := startMoat(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "admission CA")
	cert, key := ca.Issue(t, tlstest.Options{CommonName: "admission"}).Write(t, dir, "server")
	const inst = "r-admit"
	out := m.mustCall("CreateInstance", map[string]string{"InstanceId": inst, "Listen": "127.0.0.1:0", "TLSListen": "127.0.0.1:0",
		"Config": `{"tls-cert-file":"` + cert + `","tls-key-file":"` + key + `","tls-auth-clients":"no"}`})
	plain, secure := out["ListenAddresses"].([]any)[0].(string), out["TLSListenAddresses"].([]any)[0].(string)
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-a", "InstanceName": "host-a", "PrivateIpAddress": "127.0.4.1", "PublicIpAddress": "127.0.4.2"})
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-b", "InstanceName": "host-b", "PrivateIpAddress": "127.0.4.3,10.4.0.3"})
	for sg, host := range map[string]string{"sg-a": "i-a", "sg-b": "i-b"} {
		m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": sg})
		m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": sg, "InstanceId": host})
	}

	rng := rand.New(rand.NewPCG(15, 4))
	entries := []string{"127.0.1.0/24", "127.0.2.7", "127.0.3.0/28", "127.0.6.0/24", "127.0.0.1", "10.1.0.0/16",
		"10.2.3.4", "10.8.1.0/24", "2001:db8::/32", "127.0.5.5"}
	direct := []string{"127.0.0.1", "127.0.1.9", "127.0.2.7", "127.0.3.5", "127.0.3.20", "127.0.4.1", "127.0.4.2",
		"127.0.4.3", "127.0.5.5", "127.0.7.7", "127.0.6.1"}
	carried := []string{"10.1.2.3", "10.2.3.4", "10.4.0.3", "10.8.1.1", "10.8.2.2", "10.9.9.9", "127.0.1.9", "127.0.5.5",
		"127.0.7.7", "2001:db8::7", "::ffff:10.1.2.3", "::1"}
	balancers := []string{"127.0.6.1", "127.0.6.1", "127.0.6.1", "127.0.6.2"}
	groups := map[string]bool{} // whitelist groups other than default that exist now
	seen := map[string]int{}    // outcomes met, so that the test cannot pass on a narrow sample
	const configs, clients = 32, 12
	for n := 0; n < configs; n++ {
		var desc []string
		for _, g := range []string{"app", "ops"} {
			if rng.IntN(3) == 0 {
				if groups[g] {
					m.mustCall("DeleteSecurityIpGroup", map[string]string{"InstanceId": inst, "SecurityIpGroupName": g})
					delete(groups, g)
				}
				continue
			}
			var ips []string
			for _, i := range rng.Perm(len(entries))[:2+rng.IntN(4)] {
				ips = append(ips, entries[i])
			}
			m.modify(inst, g, "Cover", strings.Join(ips, ","))
			groups[g] = true
			desc = append(desc, g+"="+strings.Join(ips, ","))
		}
		sgs := []string{"", "sg-a", "sg-b", "sg-a,sg-b"}[rng.IntN(4)]
		m.bind(inst, sgs)
		yes := func() string { return []string{"no", "yes"}[rng.IntN(2)] }
		pass := []string{"", "Adm1ssion-pw"}[rng.IntN(2)]
		proxy := []string{"", "127.0.6.1", "127.0.6.1,10.50.0.0/16", "127.0.6.0/30"}[rng.IntN(4)]
		cfg := fmt.Sprintf(`{"vpc-password-free":%q,"vpc-cidr":"127.0.5.0/24,10.8.1.0/24","protected-mode":%q,"requirepass":%q,"#no_loose_check-whitelist-always":%q,"proxy-protocol":%q}`,
			yes(), yes(), pass, yes(), proxy)
		m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": inst, "Config": cfg})
		desc = append(desc, "sg="+sgs, cfg)
		for c := 0; c < clients; c++ {
			cl := diffClient{tls: rng.IntN(2) == 0}
			if rng.IntN(5) < 2 {
				cl.src = direct[rng.IntN(len(direct))]
			} else {
				cl.src, cl.carried = balancers[rng.IntN(len(balancers))], carried[rng.IntN(len(carried))]
			}
			addr := plain
			if cl.tls {
				addr = secure
			}
			params := map[string]string{"InstanceId": inst, "SourceIp": cl.src}
			if cl.carried != "" {
				params["SourceIp"], params["ProxyIp"] = cl.carried, cl.src
			}
			if cl.tls {
				params["Transport"] = "tls"
			}
			v := m.mustCall("CheckAccess", params)
			got := cl.connect(t, addr, ca)
			want := v["Reply"].(string)
			if v["Allowed"] == true {
				want = "+PONG"
				if pass != "" && v["PasswordFree"] != true {
					want = "-NOAUTH Authentication required."
				}
			}
			seen[outcome(cl, v, want)]++
			if got != want {
				t.Errorf("config %d (%s), client %+v:\n  gateway:     %.120q\n  CheckAccess: %.120q (Allowed %v: %v)", n, strings.Join(desc, " "), cl, got, want, v["Allowed"], v["Reason"])
			}
		}
	}
	for _, o := range []string{"admitted", "admitted, password needed", "admitted, password-free VPC", "admitted through PROXY",
		"illegal_address", "illegal_address, TLS", "protected_mode", "protected_mode, TLS", "protected_mode, password-free VPC",
		"protocol_error, no header", "protocol_error, untrusted PROXY", "protocol_error, untrusted PROXY, TLS"} {
		if seen[o] == 0 {
			t.Errorf("no generated client was %s; outcomes: %v", o, seen)
		}
	}
	t.Logf("outcomes: %v", seen)
}

// outcome classifies one client's verdict for the coverage check.
func outcome(cl diffClient, v map[string]any, want string) string {
	switch reason := v["RefusalReason"].(string); {
	case reason == "protected_mode" && v["PasswordFree"] == true:
		return "protected_mode, password-free VPC"
	case reason == "protocol_error" && strings.Contains(want, "expected a PROXY"):
		return "protocol_error, no header"
	case reason == "protocol_error" && cl.tls:
		return "protocol_error, untrusted PROXY, TLS"
	case reason == "protocol_error":
		return "protocol_error, untrusted PROXY"
	case reason != "" && cl.tls:
		return reason + ", TLS"
	case reason != "":
		return reason
	case want != "+PONG":
		return "admitted, password needed"
	case v["PasswordFree"] == true:
		return "admitted, password-free VPC"
	case cl.carried != "":
		return "admitted through PROXY"
	}
	return "admitted"
}

// diffClient is one generated client: a direct one from src, or one behind the load balancer src whose
// PROXY v1 header carries carried.
type diffClient struct {
	src, carried string
	tls          bool
}

// connect opens the connection, sends PING and returns the first line the gateway sent (a bulk PONG as
// +PONG): the reply, or a
// refusal sent before the TLS handshake (read raw beneath the failed handshake), or "" when the gateway
// closed without a word.
func (c diffClient) connect(t *testing.T, addr string, ca *tlstest.CA) string {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(c.src)}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", c.src, err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	rec := &recorder{Conn: raw}
	if c.carried != "" {
		fmt.Fprint(raw, proxyV1(netip.MustParseAddr(c.carried), netip.MustParseAddrPort(addr)))
	}
	var conn net.Conn = rec
	if c.tls {
		tc := tls.Client(rec, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err := tc.Handshake(); err != nil {
			io.Copy(io.Discard, rec) // the rest of a refusal, up to the close
			line, _, _ := bytes.Cut(rec.read.Bytes(), []byte("\r\n"))
			return string(line)
		}
		conn = tc
	}
	conn.Write([]byte("*1\r\n$4\r\nPING\r\n"))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return ""
	}
	if line == "$4\r\n" { // the embedded engine answers PING with a bulk string
		body, _ := br.ReadString('\n')
		return "+" + strings.TrimSuffix(body, "\r\n")
	}
	return strings.TrimSuffix(line, "\r\n")
}

// proxyV1 is a PROXY protocol v1 header carrying client (port 40000) to dst.
func proxyV1(client netip.Addr, dst netip.AddrPort) string {
	if client.Is4() {
		return fmt.Sprintf("PROXY TCP4 %s %s 40000 %d\r\n", client, dst.Addr(), dst.Port())
	}
	return fmt.Sprintf("PROXY TCP6 %s ::1 40000 %d\r\n", client, dst.Port())
}

// recorder keeps every byte read through it.
type recorder struct {
	net.Conn
	read bytes.Buffer
}

func (r *recorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.read.Write(p[:n])
	return n, err
}
