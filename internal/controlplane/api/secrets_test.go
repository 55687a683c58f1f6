package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/acl"
)

// Issue 15.7: password hashes are answered only to a key whose policy names DescribeACLUserSecrets.
// Keys with every wildcard get the same users with each hash masked and PasswordsRedacted, an export
// they make cannot be imported back (it would make users without passwords), and a key that names
// the permission for another instance gets nothing more here.
func TestACLHashesOnlyToKeysThatNameTheSecretAction(t *testing.T) {
	m := startMoat(t)
	m.modify(m.inst, "local", "Cover", "127.0.0.0/8")
	m.mustCall("ModifyACLUser", map[string]string{"InstanceId": m.inst, "UserName": "alice", "Rules": "on >Alice_pw1 >Alice_pw2 ~app:* +@read"})
	hashes := []string{acl.HashPassword([]byte("Alice_pw1")), acl.HashPassword([]byte("Alice_pw2"))}
	key := func(actions, instances string) rawRequest {
		out := m.mustCall("CreateAccessKey", map[string]string{"Actions": actions, "Instances": instances})
		return rawRequest{KeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string)}
	}
	type answer struct {
		ACLList           []string
		ACLFile           string
		PasswordsRedacted bool
		Users             struct {
			User []struct {
				UserName  string
				Passwords []string
			}
		}
	}
	call := func(who string, k rawRequest, action string) answer {
		t.Helper()
		k.Params = url.Values{"InstanceId": {m.inst}}
		status, body := m.do(action, k)
		if status != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d %s", who, action, status, body)
		}
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		who     string
		k       rawRequest
		secrets bool
	}{
		{"admin (names it)", rawRequest{}, true},
		{"*", key("*", "*"), false},
		{"Describe*", key("Describe*,ExportACL", "*"), false},
		{"near misses", key("DescribeACLUser*,*Secrets,Describe*Secrets,ExportACL", "*"), false},
		{"named for another instance", key("*,DescribeACLUserSecrets", "r-x"), false},
		{"named, this instance", key("DescribeACLUsers,ExportACL,DescribeACLUserSecrets", m.inst), true},
	} {
		if tc.who == "named for another instance" {
			// Without this instance in its policy the key may not call DescribeACLUsers here at all.
			tc.k.Params = url.Values{"InstanceId": {m.inst}}
			if status, body := m.do("DescribeACLUsers", tc.k); status != http.StatusForbidden || strings.Contains(string(body), hashes[0]) {
				t.Errorf("%s: HTTP %d %s, want 403", tc.who, status, body)
			}
			continue
		}
		d, e := call(tc.who, tc.k, "DescribeACLUsers"), call(tc.who, tc.k, "ExportACL")
		text := strings.Join(d.ACLList, "\n") + e.ACLFile
		for _, u := range d.Users.User {
			text += strings.Join(u.Passwords, ",")
		}
		for _, h := range hashes {
			if strings.Contains(text, h) != tc.secrets {
				t.Errorf("%s: hash shown %v, want %v:\n%s", tc.who, !tc.secrets, tc.secrets, text)
			}
		}
		if d.PasswordsRedacted == tc.secrets || e.PasswordsRedacted == tc.secrets {
			t.Errorf("%s: PasswordsRedacted %v/%v, want %v", tc.who, d.PasswordsRedacted, e.PasswordsRedacted, !tc.secrets)
		}
		if tc.secrets {
			continue
		}
		if !strings.Contains(e.ACLFile, "user alice on #xxxxx #xxxxx ~app:*") || d.Users.User[0].UserName != "alice" || strings.Join(d.Users.User[0].Passwords, ",") != "xxxxx,xxxxx" {
			t.Errorf("%s: the masked users do not show alice's two passwords as masked: %q %+v", tc.who, e.ACLFile, d.Users.User)
		}
		// A masked export fed back is refused: alice keeps her passwords.
		status, body := m.do("ImportACL", rawRequest{Params: url.Values{"InstanceId": {m.inst}, "ACLFile": {e.ACLFile}}})
		if status != http.StatusBadRequest {
			t.Errorf("%s: importing a masked export: HTTP %d %s, want 400", tc.who, status, body)
		}
		if _, r := m.login("127.0.0.2", "alice", "Alice_pw1"); r != "+OK" {
			t.Errorf("alice after the refused import: %q", r)
		}
	}
}
