package api_test

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/tlsconf/tlstest"
)

// CreateInstance takes TLSListen and Config (moat's): the instance serves TLS at once, its addresses
// are reported, and a certificate that cannot load is InvalidParameter.Config, not a start failure.
// ModifyInstanceConfig changes rename-command and protected-mode for new connections.
func TestNetworkSecurityThroughTheAPI(t *testing.T) {
	m := startMoat(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "api CA")
	cert, key := ca.Issue(t, tlstest.Options{CommonName: "api-tls"}).Write(t, dir, "server")
	out := m.mustCall("CreateInstance", map[string]string{"InstanceId": "r-tls", "TLSListen": "127.0.0.1:0",
		"Config": `{"tls-cert-file":"` + cert + `","tls-key-file":"` + key + `","tls-auth-clients":"no","rename-command":"CONFIG CFG"}`})
	addrs, _ := out["TLSListenAddresses"].([]any)
	if len(addrs) != 1 || strings.HasSuffix(addrs[0].(string), ":0") {
		t.Fatalf("CreateInstance: %v", out)
	}
	if l, _ := out["ListenAddresses"].([]any); len(l) != 0 {
		t.Errorf("TLSListen without Listen should make a TLS-only instance; ListenAddresses %v", l)
	}
	m.modify("r-tls", "local", "Cover", "127.0.0.0/8")
	tlsAddr := addrs[0].(string)
	ask := func(cmd string) string {
		c, err := tls.DialWithDialer(&netDialer, "tcp", tlsAddr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
		if err != nil {
			return "dial error: " + err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(cmd + "\r\n"))
		buf := make([]byte, 256)
		n, _ := c.Read(buf)
		return string(buf[:n])
	}
	if got := ask("CONFIG GET maxmemory"); !strings.HasPrefix(got, "-ERR unknown command 'CONFIG'") {
		t.Errorf("CONFIG over TLS with rename-command CONFIG CFG: %q", got)
	}
	desc := m.mustCall("DescribeInstanceAttribute", map[string]string{"InstanceId": "r-tls"})
	if !strings.Contains(jsonString(t, desc), `"TLSListenAddresses":["`+tlsAddr+`"]`) {
		t.Errorf("DescribeInstanceAttribute lacks the TLS address: %v", desc)
	}

	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": "r-tls", "Config": `{"rename-command":"FLUSHALL \"\""}`})
	// The embedded engine answers CONFIG itself (not with Redis's reply): it is reached again.
	if got := ask("CONFIG GET maxmemory"); strings.Contains(got, "unknown command 'CONFIG'") {
		t.Errorf("CONFIG after rename-command was changed back: %q", got)
	}
	if got := ask("FLUSHALL"); !strings.HasPrefix(got, "-ERR unknown command 'FLUSHALL'") {
		t.Errorf("FLUSHALL removed: %q", got)
	}

	// Refused with the reason: settings that cannot be honoured, certificates that do not load.
	for _, c := range []struct{ config, why string }{
		{`{"rename-command":"FLUSHAL \"\""}`, "No such command in rename-command"},
		{`{"tls-ciphers":"HIGH:!aNULL"}`, "keywords and operators"},
		{`{"tls-ciphersuites":"TLS_AES_128_GCM_SHA256"}`, "not supported"},
		{`{"tls-cert-file":"` + dir + `/missing.crt"}`, "tls-cert-file: open"},
		{`{"tls-auth-clients":"yes"}`, "Either tls-ca-cert-file or tls-ca-cert-dir must be specified"},
	} {
		status, body := m.call("ModifyInstanceConfig", map[string]string{"InstanceId": "r-tls", "Config": c.config})
		if status != http.StatusBadRequest || body["Code"] != "InvalidParameter.Config" || !strings.Contains(body["Message"].(string), c.why) {
			t.Errorf("ModifyInstanceConfig %s: HTTP %d %v, want InvalidParameter.Config saying %q", c.config, status, body, c.why)
		}
	}
	if got := ask("PING"); !strings.Contains(got, "PONG") {
		t.Errorf("after refused changes the instance still serves: %q", got)
	}
	status, body := m.call("CreateInstance", map[string]string{"InstanceId": "r-bad", "TLSListen": "127.0.0.1:0",
		"Config": `{"tls-cert-file":"` + dir + `/missing.crt","tls-key-file":"` + key + `","tls-auth-clients":"no"}`})
	if status != http.StatusBadRequest || body["Code"] != "InvalidParameter.Config" {
		t.Errorf("CreateInstance with a missing certificate: HTTP %d %v", status, body)
	}
}

var netDialer = net.Dialer{Timeout: 2 * time.Second}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
