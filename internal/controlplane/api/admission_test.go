package api_test

import (
	"strings"
	"testing"
)

// CheckAccess (API6) gives the gateway's own accept-time verdict: a password-free VPC client is admitted
// without the whitelist (W11) unless #no_loose_check-whitelist-always, and a client from another host,
// whitelisted or of the VPC, is refused by protected mode while the default user has no password (N2):
// Redis refuses every non-local client then, and password-free VPC access gives the default user no
// password. (Until issue 15 CheckAccess admitted the VPC client here while the gateway sent -DENIED.)
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
	if ok, why := check("10.8.1.1"); ok || !strings.HasPrefix(why, "refused by protected mode") || !strings.Contains(why, "password-free VPC access") {
		t.Errorf("a VPC client, not whitelisted, default user without a password: %v %q", ok, why)
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"protected-mode":"no"}`})
	if ok, why := check("10.8.1.1"); !ok || !strings.Contains(why, "password-free VPC access") {
		t.Errorf("a VPC client, not whitelisted, protected mode off: %v %q", ok, why)
	}
	if ok, _ := check("10.9.1.1"); ok {
		t.Error("a client outside the VPC and the whitelist is admitted")
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"#no_loose_check-whitelist-always":"yes"}`})
	if ok, why := check("10.8.1.1"); ok {
		t.Errorf("a VPC client with the whitelist always on: %v %q", ok, why)
	}
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"requirepass":"s3cret"}`})
	m.mustCall("ModifyInstanceConfig", map[string]string{"InstanceId": m.inst, "Config": `{"protected-mode":"yes","#no_loose_check-whitelist-always":"no"}`})
	if ok, why := check("10.1.2.3"); !ok {
		t.Errorf("whitelisted, the default user has a password: %v %q", ok, why)
	}
	if ok, why := check("10.8.1.1"); !ok || !strings.Contains(why, "password-free VPC access") {
		t.Errorf("a VPC client, the default user has a password: %v %q", ok, why)
	}
}
