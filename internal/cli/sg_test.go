package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/cli"
)

var reRuleID = regexp.MustCompile(`sgr-[a-z0-9]{20}`)

// sgGolden runs commands like env.golden, and also names rule IDs (random) in the order they appear.
func (e *env) sgGolden(names map[string]string, name string, cmds ...[]string) []result {
	e.t.Helper()
	var b strings.Builder
	b.WriteString("# TestCLISecurityGroups: one in-process moat, the golden files' commands run in the order of the test;\n")
	b.WriteString("# each with --profile $DATA/admin-key.json. IDs, ports, times and secrets are masked.\n")
	var out []result
	for _, args := range cmds {
		r := e.moat(args...)
		out = append(out, r)
		b.WriteString("\n" + e.transcript(args, r))
	}
	s := reRuleID.ReplaceAllStringFunc(b.String(), func(id string) string {
		if _, ok := names[id]; !ok {
			names[id] = fmt.Sprintf("sgr-RULE%d", len(names)+1) + strings.Repeat("_", 24-len(fmt.Sprintf("sgr-RULE%d", len(names)+1)))
		}
		return names[id]
	})
	compareGolden(e.t, name, s)
	return out
}

// The security-group session a user runs: hosts, a group, binding, rules, export, and a batch change
// planned (golden plan output), applied as one change, and planned again (no changes).
func TestCLISecurityGroups(t *testing.T) {
	e := startMoat(t)
	rules := map[string]string{}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		e.masks = append(e.masks, mask{p, "$DIR/" + name})
		return p
	}

	r := e.sgGolden(rules, "sg_manage",
		args("host", "add", "--id", "i-web1", "--name", "web-1", "--private-ip", "127.0.0.5", "--public-ip", "127.0.0.6"),
		args("host", "add", "--id", "i-web2", "--name", "web-2", "--private-ip", "127.0.0.7,127.0.0.8", "--vpc", "vpc-app"),
		args("host", "add", "--id", "i-bad", "--private-ip", "10.0.0.0/24"),
		args("sg", "create", "--id", "sg-app", "--name", "app-servers"),
		args("sg", "join", "--sg", "sg-app", "--host", "i-web1"),
		args("instance", "set-security-groups", "--instance", e.inst, "--sg", "sg-app"),
		args("instance", "security-groups", "--instance", e.inst),
		args("check", "--instance", e.inst, "--from", "127.0.0.6"),
		args("check", "--instance", e.inst, "--from", "127.0.0.7"),
		args("sg", "authorize", "--sg", "sg-app", "--protocol", "tcp", "--port", "6379/6379", "--cidr", "10.0.0.0/8", "--description", "redis"),
		args("sg", "authorize", "--sg", "sg-app", "--protocol", "icmp", "--cidr", "0.0.0.0/0", "--policy", "drop", "--priority", "100"),
		args("sg", "authorize", "--sg", "sg-app", "--direction", "egress", "--protocol", "all", "--cidr", "0.0.0.0/0", "--policy", "drop", "--priority", "100"),
		args("sg", "authorize", "--sg", "sg-app", "--protocol", "tcp", "--port", "22/22", "--cidr", "10.0.0.5/24"),
		args("sg", "rules", "--sg", "sg-app"),
		args("sg", "list"),
		args("host", "list"),
		args("sg", "export", "--format", "csv"),
		args("sg", "delete", "--sg", "sg-app"),
	)
	if r[7].code != cli.ExitOK || !strings.Contains(r[7].stdout, `security group "sg-app" host "i-web1"`) || r[8].code != cli.ExitRefused {
		t.Fatalf("check names the security group and host: %+v %+v", r[7], r[8])
	}
	if r[2].code != cli.ExitError || r[12].code != cli.ExitError || r[17].code != cli.ExitError || !strings.Contains(r[17].stderr, "DependencyViolation.BoundToInstance") {
		t.Fatalf("refusals: %+v %+v %+v", r[2], r[12], r[17])
	}

	// Export as JSON is the desired-state form: planning it changes nothing.
	exp := e.must("sg", "export", "--format", "json")
	var doc struct {
		SecurityGroups []struct {
			ID      string
			Members []string
			Rules   []struct{ ID, Description string }
		} `json:"security_groups"`
	}
	if err := json.Unmarshal([]byte(exp.stdout), &doc); err != nil || len(doc.SecurityGroups) != 1 || len(doc.SecurityGroups[0].Rules) != 3 {
		t.Fatalf("export json: %v %s", err, exp.stdout)
	}
	same := write("same.json", exp.stdout)
	desired := write("desired.yaml", `# the app tier: web-2 replaces web-1, ssh from the office, no ICMP rule; a new ops group
security_groups:
  - id: sg-app
    members: [i-web2]
    rules:
      - protocol: tcp
        port_range: 6379/6379
        cidr: 10.0.0.0/8
        description: redis from the app network
      - protocol: tcp
        port_range: 22/22
        cidr: 192.168.0.0/16
        priority: 2
        description: ssh
      - direction: egress
        protocol: all
        port_range: -1/-1
        cidr: 0.0.0.0/0
        policy: drop
        priority: 100
  - id: sg-ops
    name: ops
    members: [i-web1]
`)
	bad := write("bad.yaml", `security_groups:
  - id: sg-app
    members: [i-web2, i-nosuch]
    rules:
      - protocol: tcp
        port_range: 22/22
        cidr: 10.0.0.5/24
      - protocol: icmp
        port_range: 22/22
        cidr: 10.0.0.0/8
        priority: 0
  - name: ""
`)
	r = e.sgGolden(rules, "sg_plan",
		args("sg", "plan", "-f", same),
		args("sg", "plan", "-f", desired),
		args("sg", "plan", "-f", bad),
		args("sg", "apply", "-f", desired),
		args("sg", "plan", "-f", desired),
		args("check", "--instance", e.inst, "--from", "127.0.0.5"),
		args("check", "--instance", e.inst, "--from", "127.0.0.8"),
		args("sg", "rules", "--sg", "sg-app"),
		args("sg", "render", "--sg", "sg-app", "--format", "nftables"),
	)
	if !strings.Contains(r[0].stdout, "No changes") || !strings.Contains(r[4].stdout, "No changes") {
		t.Fatalf("plans of the current state: %q %q", r[0].stdout, r[4].stdout)
	}
	if r[2].code != cli.ExitError || !strings.Contains(r[2].stderr, "InvalidDesiredState") || !strings.Contains(r[2].stderr, "i-nosuch") || !strings.Contains(r[2].stderr, "10.0.0.0/24") {
		t.Fatalf("a bad file reports every problem: %+v", r[2])
	}
	if r[5].code != cli.ExitRefused || r[6].code != cli.ExitOK {
		t.Fatalf("apply changed who may connect: %+v %+v", r[5], r[6])
	}
	// apply is audited as one change.
	a := e.must("audit", "--action", "ApplySecurityGroups", "-o", "json")
	var entries []struct{ Action, Result string }
	if err := json.Unmarshal([]byte(a.stdout), &entries); err != nil || len(entries) != 1 || entries[0].Result != "ok" {
		t.Fatalf("audit of apply: %v %s", err, a.stdout)
	}
}
