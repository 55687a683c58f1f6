package harness

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// TargetSpec is one line of the targets file run.sh writes once everything is started:
//
//	name <TAB> label <TAB> host:port <TAB> pid of the proxy process (0 for direct) <TAB> skip reason [<TAB> user <TAB> password]
//
// The two last fields are optional (a 5-field line is a target without credentials): the password alone
// logs in as the default user (AUTH password), user and password as that ACL user (AUTH user password);
// a user needs a password. Lines starting with '#' and blank lines are ignored.
type TargetSpec struct {
	Target
	Addr string
	PID  int
	Pass string // Target.User's password ("" with no credentials)
}

// BenchAuthArgs are redis-benchmark's arguments that log in as the target's user: none, -a PASS, or
// --user USER -a PASS. redis-benchmark sends the AUTH on every connection it opens.
func (t TargetSpec) BenchAuthArgs() []string {
	switch {
	case t.Pass == "":
		return nil
	case t.User == "":
		return []string{"-a", t.Pass}
	}
	return []string{"--user", t.User, "-a", t.Pass}
}

// ReadTargets parses a targets file. Names must be unique and the direct target must be present and
// measured, since every ratio is taken against it.
func ReadTargets(r io.Reader) ([]TargetSpec, error) {
	var out []TargetSpec
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 && len(f) != 7 {
			return nil, fmt.Errorf("targets line %d: want 5 or 7 tab-separated fields, got %d", n, len(f))
		}
		pid, err := strconv.Atoi(f[3])
		if err != nil || pid < 0 {
			return nil, fmt.Errorf("targets line %d: pid %q", n, f[3])
		}
		t := TargetSpec{Target: Target{Name: f[0], Label: f[1], Skip: f[4]}, Addr: f[2], PID: pid}
		if len(f) == 7 {
			t.User, t.Pass = f[5], f[6]
			if t.User != "" && t.Pass == "" {
				return nil, fmt.Errorf("targets line %d: %s has user %q but no password", n, t.Name, t.User)
			}
			if strings.ContainsAny(t.User, " \x00") {
				return nil, fmt.Errorf("targets line %d: user %q", n, t.User)
			}
			t.Auth = t.Pass != ""
		}
		if t.Name == "" || seen[t.Name] {
			return nil, fmt.Errorf("targets line %d: empty or repeated name %q", n, t.Name)
		}
		if t.Skip == "" && t.Addr == "" {
			return nil, fmt.Errorf("targets line %d: %s has no address", n, t.Name)
		}
		seen[t.Name] = true
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	ok := false
	for _, t := range out {
		if t.Name == DirectTarget && t.Skip == "" {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("targets: no measured %q target to take ratios against", DirectTarget)
	}
	return out, nil
}

// Plain returns the Target part of each spec, in order.
func Plain(specs []TargetSpec) []Target {
	out := make([]Target, len(specs))
	for i, s := range specs {
		out[i] = s.Target
	}
	return out
}

// TestName maps a redis-benchmark result line to the harness's test name for a run at pipeline depth p
// (0 for the churn run): SET at -P 16 → "P16 SET", PING_MBULK → "churn".
func TestName(benchTest string, pipeline int) string {
	if strings.EqualFold(benchTest, "PING_MBULK") && pipeline == 0 {
		return TestChurn
	}
	return fmt.Sprintf("P%d %s", pipeline, strings.ToUpper(benchTest))
}
