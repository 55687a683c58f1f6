package api_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/r_kvstore"
)

// keyListed is one key of DescribeAccessKeys, with every field the answer carries.
type keyListed map[string]any

// listKeys is DescribeAccessKeys through the SDK's CommonRequest with the administrator key: the keys
// by ID, and the raw body.
func (m *moat) listKeys() (map[string]keyListed, string) {
	m.t.Helper()
	resp, err := m.admin().ProcessCommonRequest(m.common("DescribeAccessKeys", nil))
	if err != nil {
		m.t.Fatalf("DescribeAccessKeys: %v", err)
	}
	var out struct {
		RequestId  string
		AccessKeys struct{ AccessKey []keyListed }
	}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil || out.RequestId == "" {
		m.t.Fatalf("DescribeAccessKeys: %v %s", err, resp.GetHttpContentString())
	}
	keys := map[string]keyListed{}
	for _, k := range out.AccessKeys.AccessKey {
		keys[k["AccessKeyId"].(string)] = k
	}
	return keys, resp.GetHttpContentString()
}

func keyIDs(keys map[string]keyListed) []string {
	var ids []string
	for id := range keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// createKey is CreateAccessKey through the SDK's CommonRequest; it returns the new ID and secret.
func (m *moat) createKey(actions, instances, description string) (string, string) {
	m.t.Helper()
	out := m.commonJSON(m.common("CreateAccessKey", map[string]string{"Actions": actions, "Instances": instances, "Description": description}))
	id, _ := out["AccessKeyId"].(string)
	secret, _ := out["AccessKeySecret"].(string)
	if !strings.HasPrefix(id, "MOAT") || len(secret) < 20 {
		m.t.Fatalf("CreateAccessKey: %v", out)
	}
	return id, secret
}

// deleteKey is DeleteAccessKey of victim (UserAccessKeyId), called with the key id/secret, signed V3
// through the Tea SDK (TestDeleteAccessKeyV1NamesAnotherKey signs it V1).
func (m *moat) deleteKey(id, secret, victim string) error {
	m.t.Helper()
	_, err := m.teaCall(id, secret, "DeleteAccessKey", "2015-01-01", map[string]string{"UserAccessKeyId": victim})
	return err
}

// describeWith is the typed DescribeSecurityIps with the given key.
func (m *moat) describeWith(id, secret, inst string) error {
	req := at(m, r_kvstore.CreateDescribeSecurityIpsRequest())
	req.InstanceId = inst
	_, err := m.client(id, secret).DescribeSecurityIps(req)
	return err
}

// A key's secret is shown once, when it is created: describe lists the key with its policy and never
// the secret; a deleted key's next call is refused as an unknown key, and the key is gone from the list.
func TestAccessKeySecretOnceAndDeletion(t *testing.T) {
	m := startMoat(t)
	id, secret := m.createKey("Describe*,CheckAccess", m.inst, "monitoring")
	if err := m.describeWith(id, secret, m.inst); err != nil {
		t.Fatalf("the new key, at once: %v", err)
	}

	keys, raw := m.listKeys()
	if got := keyIDs(keys); len(got) != 2 || keys[id] == nil || keys[m.keyID] == nil {
		t.Fatalf("DescribeAccessKeys lists %v, want the admin key %s and %s", got, m.keyID, id)
	}
	k := keys[id]
	if k["Description"] != "monitoring" || k["CreateTime"] == "" {
		t.Fatalf("the new key as described: %v", k)
	}
	if acts, _ := json.Marshal(k["Actions"]); string(acts) != `["Describe*","CheckAccess"]` {
		t.Fatalf("described Actions %s", acts)
	}
	if insts, _ := json.Marshal(k["Instances"]); string(insts) != `["`+m.inst+`"]` {
		t.Fatalf("described Instances %s", insts)
	}
	for _, s := range []string{secret, m.secret} {
		if strings.Contains(raw, s) {
			t.Fatalf("DescribeAccessKeys returns a secret: %s", raw)
		}
	}
	for _, k := range keys {
		for f := range k {
			if strings.Contains(strings.ToLower(f), "secret") {
				t.Fatalf("DescribeAccessKeys has a field %s: %v", f, k)
			}
		}
	}

	if err := m.deleteKey(m.keyID, m.secret, id); err != nil {
		t.Fatalf("DeleteAccessKey: %v", err)
	}
	wantSDKError(t, m.describeWith(id, secret, m.inst), 404, "InvalidAccessKeyId.NotFound")
	_, err := m.teaCall(id, secret, "DescribeSecurityIps", "2015-01-01", map[string]string{"InstanceId": m.inst})
	teaError(t, err, 404, "InvalidAccessKeyId.NotFound")
	if keys, _ := m.listKeys(); len(keys) != 1 || keys[m.keyID] == nil {
		t.Fatalf("after DeleteAccessKey: %v", keyIDs(keys))
	}
	// Deleting it again names the missing key, and changes nothing.
	teaError(t, m.deleteKey(m.keyID, m.secret, id), 404, "InvalidAccessKeyId.NotFound")
	if keys, _ := m.listKeys(); len(keys) != 1 {
		t.Fatalf("after deleting a missing key: %v", keyIDs(keys))
	}
}

// The last key allowed every action on every instance cannot be deleted: the refusal has its own code,
// the key stays listed and keeps working. A key with "*" actions on one instance is not an administrator.
func TestLastAdminKeyCannotBeDeleted(t *testing.T) {
	m := startMoat(t)
	wide, _ := m.createKey("*", m.inst, "everything on one instance")

	refuse := func(id, secret, victim string) {
		t.Helper()
		se := teaError(t, m.deleteKey(id, secret, victim), 400, "OperationDenied.LastAdminKey")
		if !strings.Contains(dara.StringValue(se.Message), "last key allowed every action") {
			t.Fatalf("the refusal does not say why: %q", dara.StringValue(se.Message))
		}
	}
	refuse(m.keyID, m.secret, m.keyID)
	keys, _ := m.listKeys()
	if len(keys) != 2 || keys[m.keyID] == nil || keys[wide] == nil {
		t.Fatalf("after the refused delete: %v", keyIDs(keys))
	}
	if err := m.describeWith(m.keyID, m.secret, m.inst); err != nil {
		t.Fatalf("the admin key after the refused delete: %v", err)
	}

	// With a second administrator, the first can go; then the second is the last one.
	admin2, secret2 := m.createKey("*", "*", "second administrator")
	if err := m.deleteKey(admin2, secret2, m.keyID); err != nil {
		t.Fatalf("deleting one of two administrator keys: %v", err)
	}
	wantSDKError(t, m.describeWith(m.keyID, m.secret, m.inst), 404, "InvalidAccessKeyId.NotFound")
	m.keyID, m.secret = admin2, secret2 // the helpers now call as the remaining administrator
	refuse(admin2, secret2, admin2)
	if keys, _ := m.listKeys(); len(keys) != 2 || keys[admin2] == nil || keys[wide] == nil {
		t.Fatalf("after deleting the first administrator: %v", keyIDs(keys))
	}
	if err := m.describeWith(admin2, secret2, m.inst); err != nil {
		t.Fatalf("the last administrator after the refused delete: %v", err)
	}
}

// A key whose policy allows only Describe* on one instance reads that instance and nothing else: a
// change, another instance, and the key calls are forbidden with the provider's code, and change nothing.
func TestDescribeOnlyKeyIsForbiddenElsewhere(t *testing.T) {
	m := startMoat(t)
	m.create("r-other")
	m.modify("r-other", "app", "Cover", "10.1.0.0/16")
	id, secret := m.createKey("Describe*", m.inst, "read one instance")
	reader := m.client(id, secret)
	before, otherBefore := m.groups(m.inst), m.groups("r-other")
	keysBefore, _ := m.listKeys()

	if err := m.describeWith(id, secret, m.inst); err != nil {
		t.Fatalf("describing its own instance: %v", err)
	}
	req := modifyRequest(m, "sneak", "0.0.0.0/0")
	_, err := reader.ModifySecurityIps(req)
	wantSDKError(t, err, 403, "Forbidden.RAM")
	req = modifyRequest(m, "app", "0.0.0.0/0")
	req.InstanceId = "r-other"
	_, err = reader.ModifySecurityIps(req)
	wantSDKError(t, err, 403, "Forbidden.RAM")
	wantSDKError(t, m.describeWith(id, secret, "r-other"), 403, "Forbidden.RAM")
	// Describe* names no key action on an instance: the key can neither list keys nor make or remove one.
	for _, r := range []struct {
		action string
		params map[string]string
	}{
		{"DescribeAccessKeys", nil},
		{"CreateAccessKey", map[string]string{"Actions": "*", "Instances": "*"}},
		{"DeleteAccessKey", map[string]string{"UserAccessKeyId": m.keyID}},
	} {
		_, err := reader.ProcessCommonRequest(m.common(r.action, r.params))
		wantSDKError(t, err, 403, "Forbidden.RAM")
	}

	assertSame := func(what string, got, want []ipGroup) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Fatalf("a forbidden call changed %s:\n got %s\nwant %s", what, g, w)
		}
	}
	assertSame(m.inst, m.groups(m.inst), before)
	assertSame("r-other", m.groups("r-other"), otherBefore)
	if keys, _ := m.listKeys(); strings.Join(keyIDs(keys), ",") != strings.Join(keyIDs(keysBefore), ",") {
		t.Fatalf("a forbidden call changed the keys: %v, was %v", keyIDs(keys), keyIDs(keysBefore))
	}
}

// DeleteAccessKey names the key to delete in UserAccessKeyId (RAM's name): AccessKeyId is the caller's
// own key ID in a V1 signature (the classic SDK, moat's CLI), so it cannot name another key. A V1 call
// naming the victim in AccessKeyId only is refused as missing UserAccessKeyId and deletes nothing (it
// used to delete the caller's key); with UserAccessKeyId it deletes exactly that key.
func TestDeleteAccessKeyV1NamesAnotherKey(t *testing.T) {
	m := startMoat(t)
	id, secret := m.createKey("Describe*", m.inst, "to delete")
	_, err := m.admin().ProcessCommonRequest(m.common("DeleteAccessKey", map[string]string{"AccessKeyId": id}))
	se := wantSDKError(t, err, 400, "MissingParameter")
	if !strings.Contains(se.Message(), "UserAccessKeyId") {
		t.Fatalf("the refusal does not name UserAccessKeyId: %q", se.Message())
	}
	if keys, _ := m.listKeys(); len(keys) != 2 || keys[m.keyID] == nil || keys[id] == nil {
		t.Fatalf("after the refused V1 call: %v", keyIDs(keys))
	}
	if err := m.describeWith(m.keyID, m.secret, m.inst); err != nil {
		t.Fatalf("the caller's key after the refused call: %v", err)
	}

	m.commonJSON(m.common("DeleteAccessKey", map[string]string{"UserAccessKeyId": id}))
	wantSDKError(t, m.describeWith(id, secret, m.inst), 404, "InvalidAccessKeyId.NotFound")
	if keys, _ := m.listKeys(); len(keys) != 1 || keys[m.keyID] == nil {
		t.Fatalf("after deleting %s by CommonRequest: %v", id, keyIDs(keys))
	}
	if err := m.describeWith(m.keyID, m.secret, m.inst); err != nil {
		t.Fatalf("the caller's key after deleting another: %v", err)
	}
}

// A key's description is text: invalid UTF-8, control characters or over 256 characters are refused
// with InvalidDescription.Malformed; 256 characters of any script are taken.
func TestAccessKeyDescriptionIsText(t *testing.T) {
	m := startMoat(t)
	for _, d := range []string{"bad\xffbytes", "line\nbreak", "nul\x00", strings.Repeat("é", 257)} {
		m.wantRefused(t, "CreateAccessKey", map[string]string{"Actions": "Describe*", "Instances": "*", "Description": d},
			400, "InvalidDescription.Malformed", "UTF-8 text")
	}
	m.createKey("Describe*", "*", strings.Repeat("秘", 256))
}
