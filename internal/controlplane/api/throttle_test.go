package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"

	"github.com/moat-dev/moat/internal/controlplane/api"
)

// describeAs is DescribeSecurityIps of the default instance signed with id/secret from src.
func (m *moat) describeAs(id, secret, src string) (int, []byte) {
	m.t.Helper()
	return m.do("DescribeSecurityIps", rawRequest{Params: url.Values{"InstanceId": {m.inst}}, KeyID: id, Secret: secret, Source: src})
}

// wantAdminServed checks the administrator key is served, through the official SDK.
func (m *moat) wantAdminServed(when string) {
	m.t.Helper()
	req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
	req.InstanceId = m.inst
	if _, err := m.admin().DescribeSecurityIps(req); err != nil {
		m.t.Fatalf("%s: the administrator is refused: %v", when, err)
	}
	if _, err := m.admin().ModifySecurityIps(modifyRequest(m, "app", "127.0.0.9")); err != nil {
		m.t.Fatalf("%s: the administrator cannot change the whitelist: %v", when, err)
	}
}

// A read-only key flooding the API over its call rate is answered Throttling.User, in the provider's
// JSON; the administrator key keeps working. (Budgets are small so the flood is short.)
func TestReadOnlyKeyFloodsItsRate(t *testing.T) {
	m := startMoatWith(t, api.Limits{KeyRate: 1, KeyBurst: 20})
	ro, roSecret := m.createKey("Describe*", "*", "read-only")
	throttled := 0
	for range 40 {
		status, body := m.describeAs(ro, roSecret, "")
		if status == http.StatusOK {
			continue
		}
		e := wantErrorJSON(t, status, body, http.StatusBadRequest, "Throttling.User")
		if !strings.HasPrefix(e["Message"], "Request was denied due to user flow control.") || !strings.Contains(e["Message"], ro) {
			t.Fatalf("message %q", e["Message"])
		}
		throttled++
	}
	if throttled < 15 {
		t.Fatalf("%d of 40 calls throttled, want at least 15 (burst 20, 1 per second)", throttled)
	}
	m.wantAdminServed("during the flood")
	// The SDK sees the provider's code.
	req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
	req.InstanceId = m.inst
	_, err := m.client(ro, roSecret).DescribeSecurityIps(req)
	wantSDKError(t, err, http.StatusBadRequest, "Throttling.User")
}

// The attack of issue 16.3: one key's calls used to fill the nonce memory every key shares, and every
// key then got Throttling.NonceCache. Now a key over its share of nonces gets Throttling.User and the
// others are served, while the total stays bounded.
func TestReadOnlyKeyCannotExhaustNonces(t *testing.T) {
	m := startMoatWith(t, api.Limits{KeyRate: 1000, KeyBurst: 1000, KeyNonces: 30, Nonces: 100})
	ro, roSecret := m.createKey("Describe*", "*", "read-only")
	ok := 0
	for range 60 {
		status, body := m.describeAs(ro, roSecret, "")
		if status == http.StatusOK {
			ok++
			continue
		}
		wantErrorJSON(t, status, body, http.StatusBadRequest, "Throttling.User")
	}
	if ok != 30 {
		t.Fatalf("%d of 60 calls served, want exactly its 30 nonces", ok)
	}
	// Denied calls spend the key's share too (their nonces are remembered), and still do not reach others.
	status, body := m.do("ModifySecurityIps", rawRequest{KeyID: ro, Secret: roSecret,
		Params: url.Values{"InstanceId": {m.inst}, "SecurityIpGroupName": {"x"}, "SecurityIps": {"10.0.0.1"}}})
	wantErrorJSON(t, status, body, http.StatusBadRequest, "Throttling.User")
	m.wantAdminServed("after the read-only key's flood")
	for i := range 10 {
		if status, body := m.describeAs(m.keyID, m.secret, ""); status != http.StatusOK {
			t.Fatalf("admin call %d: HTTP %d %s", i, status, body)
		}
	}
}

// Before a key is known: an address sending calls that fail authentication (a wrong secret, an unknown
// key) is refused with Throttling.User once over its budget — before its signatures are even checked,
// whatever key they name — while other addresses, and valid keys calling from them, are served.
func TestBadSignatureFloodIsPerAddress(t *testing.T) {
	m := startMoatWith(t, api.Limits{SourceRate: 0.01, SourceBurst: 10})
	ro, _ := m.createKey("Describe*", "*", "read-only")
	const attacker, other = "127.0.0.31", "127.0.0.32"
	codes := map[string]int{}
	for i := range 25 {
		id, secret := ro, "wrong-secret"
		if i%2 == 1 {
			id, secret = fmt.Sprintf("MOATNOSUCHKEY%d", i), "x"
		}
		status, body := m.describeAs(id, secret, attacker)
		if status == http.StatusOK {
			t.Fatalf("a bad signature was served")
		}
		var got struct{ Code string }
		json.Unmarshal(body, &got)
		want := map[string]int{"SignatureDoesNotMatch": 400, "InvalidAccessKeyId.NotFound": 404, "Throttling.User": 400}[got.Code]
		if want == 0 {
			t.Fatalf("HTTP %d %s", status, body)
		}
		wantErrorJSON(t, status, body, want, got.Code)
		codes[got.Code]++
	}
	if codes["Throttling.User"] != 15 {
		t.Fatalf("refusals %v: want 10 failures counted, then 15 Throttling.User", codes)
	}
	// The attacker's address is refused even with a valid signature; other addresses are not.
	status, body := m.describeAs(m.keyID, m.secret, attacker)
	wantErrorJSON(t, status, body, http.StatusBadRequest, "Throttling.User")
	if status, body := m.describeAs(m.keyID, m.secret, other); status != http.StatusOK {
		t.Fatalf("admin from another address: HTTP %d %s", status, body)
	}
	m.wantAdminServed("after the bad-signature flood")
}
