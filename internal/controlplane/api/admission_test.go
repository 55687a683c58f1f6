package api_test

import (
	"strings"
	"testing"
)

// CheckAccess (API6) gives the gateway's own accept-time verdict: a password-free VPC client is admitted
// without the whitelist (W11) unless #no_loose_check-whitelist-always, and a whitelisted client from
// another host is refused by protected mode while the default user has no password (N2).
func TestCheckAccessFollowsVPCAndProtectedMode(t *testing.T) {
	m := startMoat(t)
	check := func(src string) (bool, string) {
		t.Helper()
		out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src})
		return out["Allowed"] == true, out["Reason"].(string)
	}
	m.mustCall("ModifySecurityIps", map[string]string{"InstanceId": m.inst, "SecurityIpGroupName": "app", "SecurityIps": "10.1.0.0/16"})
	if ok, why := check("10.1.2.3"); ok || !strings.HasPrefix(why, "refused by protected mode") {
		t.Errorf("whitelisted, default user without a password: %v %q", ok, why)
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"vpc-password-free":"yes","vpc-cidr":"10.8.0.0/16"}`})
	if ok, why := check("10.8.1.1"); !ok || !strings.Contains(why, "password-free VPC access") {
		t.Errorf("a VPC client, not whitelisted: %v %q", ok, why)
	}
	if ok, _ := check("10.9.1.1"); ok {
		t.Error("a client outside the VPC and the whitelist is admitted")
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"#no_loose_check-whitelist-always":"yes"}`})
	if ok, why := check("10.8.1.1"); ok {
		t.Errorf("a VPC client with the whitelist always on: %v %q", ok, why)
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"requirepass":"s3cret"}`})
	if ok, why := check("10.1.2.3"); !ok {
		t.Errorf("whitelisted, the default user has a password: %v %q", ok, why)
	}
}
