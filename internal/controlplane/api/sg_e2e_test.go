package api_test

import (
	"strings"
	"testing"
)

// Membership decides real connections (SG1, SG2, W6): hosts' private and public IPs are 127.0.0.x
// addresses, each a distinct client. Every membership, host-address and binding change takes effect on
// every instance the group is bound to by the time the call returns, and CheckAccess names the group and
// the host.
func TestMembershipDecidesConnections(t *testing.T) {
	m := startMoat(t)
	second := m.create("r-second")
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "i-web1", "InstanceName": "web-1", "PrivateIpAddress": "127.0.0.5", "PublicIpAddress": "127.0.0.6"})
	m.ecsJSON("CreateHost", map[string]string{"InstanceId": "eci-job1", "InstanceName": "job-1", "PrivateIpAddress": "127.0.0.7,127.0.0.8"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "SecurityGroupName": "app-servers"})
	m.ecsJSON("CreateSecurityGroup", map[string]string{"SecurityGroupId": "sg-empty"})

	type want map[string]bool
	expect := func(step string, w want) {
		t.Helper()
		for _, addr := range []string{m.listen, second} {
			for src, ok := range w {
				got := redis(t, addr, src, "PING")
				switch {
				case ok && got != "+PONG":
					t.Errorf("%s: %s → %s should be admitted, got %q", step, src, addr, got)
				case !ok && got != illegal:
					t.Errorf("%s: %s → %s should be refused, got %q", step, src, addr, got)
				}
			}
		}
		for src, ok := range w {
			out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": src})
			if out["Allowed"] != ok {
				t.Errorf("%s: CheckAccess(%s) = %v, want %v (%v)", step, src, out["Allowed"], ok, out["Reason"])
			}
		}
	}

	// Bound, but nobody is in the group: still nobody (and 127.0.0.1 is void, not "everyone").
	m.bind(m.inst, "sg-app")
	m.bind("r-second", "sg-app,sg-empty")
	expect("bound, no members", want{"127.0.0.1": false, "127.0.0.5": false})

	m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	expect("web-1 joined", want{"127.0.0.5": true, "127.0.0.6": true, "127.0.0.7": false, "127.0.0.1": false})

	// CheckAccess names the security group and the host, for private and public addresses.
	out := m.mustCall("CheckAccess", map[string]string{"InstanceId": m.inst, "SourceIp": "127.0.0.6"})
	match := out["Matches"].([]any)[0].(map[string]any)
	if match["SecurityGroup"] != "sg-app" || match["Host"] != "i-web1" || !strings.Contains(out["Reason"].(string), `security group "sg-app" host "i-web1" (web-1)`) {
		t.Fatalf("CheckAccess: %v", out)
	}

	m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "eci-job1"})
	expect("job-1 joined", want{"127.0.0.5": true, "127.0.0.7": true, "127.0.0.8": true})

	m.ecsJSON("LeaveSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	expect("web-1 left", want{"127.0.0.5": false, "127.0.0.6": false, "127.0.0.7": true})

	// A host's addresses change: the old one is refused, the new one admitted, at once.
	m.ecsJSON("ModifyHost", map[string]string{"InstanceId": "eci-job1", "PrivateIpAddress": "127.0.0.9"})
	expect("job-1 moved", want{"127.0.0.7": false, "127.0.0.8": false, "127.0.0.9": true})

	// A whitelist entry beside the group: both count.
	m.modify(m.inst, "ops", "Cover", "127.0.0.20")
	if got := redis(t, m.listen, "127.0.0.20", "PING"); got != "+PONG" {
		t.Fatalf("whitelist entry beside a bound group: %q", got)
	}

	// Unbinding: the first instance refuses the member, the second (still bound) admits it.
	m.bind(m.inst, "")
	if got := redis(t, m.listen, "127.0.0.9", "PING"); got != illegal {
		t.Fatalf("after unbinding: %q", got)
	}
	if got := redis(t, second, "127.0.0.9", "PING"); got != "+PONG" {
		t.Fatalf("the other instance, still bound: %q", got)
	}

	// Deleting a host removes it from its groups: refused everywhere.
	m.ecsJSON("DeleteHost", map[string]string{"InstanceId": "eci-job1"})
	if got := redis(t, second, "127.0.0.9", "PING"); got != illegal {
		t.Fatalf("after deleting the host: %q", got)
	}

	// The binding and memberships survive a restart, and the restarted moat enforces them.
	m.ecsJSON("JoinSecurityGroup", map[string]string{"SecurityGroupId": "sg-app", "InstanceId": "i-web1"})
	m.restart()
	if got, _ := m.bound("r-second"); strings.Join(got, ",") != "sg-app,sg-empty" {
		t.Fatalf("binding after restart: %v", got)
	}
	second = m.srv.Gateway("r-second").Addrs()[0].String()
	if got := redis(t, second, "127.0.0.5", "PING"); got != "+PONG" {
		t.Fatalf("member after restart: %q", got)
	}
	if got := redis(t, second, "127.0.0.7", "PING"); got != illegal {
		t.Fatalf("non-member after restart: %q", got)
	}
}
