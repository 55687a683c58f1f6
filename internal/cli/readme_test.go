package cli_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeBlock returns the lines of the first ```sh block after the README heading.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("README: no sh block under %q", heading)
	}
	return strings.Split(strings.TrimSpace(block), "\n")
}

// verdictPattern turns a README comment such as `REFUSED  refused by protected mode: … admit it …`
// into a pattern the command's first line must match: "…" stands for any text.
func verdictPattern(comment string) *regexp.Regexp {
	parts := strings.Split(comment, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(strings.TrimSpace(p))
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// README's security-group example, run as written against a real moat: every command succeeds and each
// `moat check` prints the verdict its comment shows (IDs taken from what the commands before printed).
func TestREADMESecurityGroupExample(t *testing.T) {
	e := startMoat(t)
	ids := map[string]string{"r-xxx": e.inst}
	// The commands that print a new ID, and the placeholder the README uses for it.
	creates := map[string]struct {
		placeholder string
		id          *regexp.Regexp
	}{
		"moat host add":  {"i-xxx", regexp.MustCompile(`\bi-[a-z0-9]+`)},
		"moat sg create": {"sg-xxx", regexp.MustCompile(`\bsg-[a-z0-9]+`)},
	}
	checks := 0
	for _, line := range readmeBlock(t, "## Security groups and hosts") {
		command, comment, _ := strings.Cut(line, "#")
		comment = strings.TrimSpace(comment)
		for placeholder, id := range ids {
			command = strings.ReplaceAll(command, placeholder, id)
			comment = strings.ReplaceAll(comment, placeholder, id)
		}
		args := strings.Fields(command)
		if len(args) == 0 || args[0] != "moat" {
			t.Fatalf("README line %q is not a moat command", line)
		}
		r := e.moat(args[1:]...)
		verdict := strings.HasPrefix(comment, "ALLOWED") || strings.HasPrefix(comment, "REFUSED")
		switch {
		case verdict && strings.HasPrefix(comment, "REFUSED") && r.code != 3, verdict && strings.HasPrefix(comment, "ALLOWED") && r.code != 0,
			!verdict && r.code != 0:
			t.Fatalf("%s: exit %d\n%s%s", command, r.code, r.stdout, r.stderr)
		}
		if verdict {
			checks++
			first, _, _ := strings.Cut(r.stdout, "\n")
			if !verdictPattern(comment).MatchString(first) {
				t.Errorf("%s\nprints  %q\nREADME: %q", command, first, comment)
			}
		}
		if c, ok := creates[strings.Join(args[:min(3, len(args))], " ")]; ok {
			if ids[c.placeholder] = c.id.FindString(r.stdout); ids[c.placeholder] == "" {
				t.Fatalf("%s printed no %s ID: %q", command, c.placeholder, r.stdout)
			}
		}
	}
	if checks < 2 {
		t.Fatalf("README's example has %d verdicts to check, want at least 2", checks)
	}
}
