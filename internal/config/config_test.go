package config

import (
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/allowlist"
)

func TestParseValid(t *testing.T) {
	f, insts, err := Parse("moat.yaml", []byte(`
data_dir: /var/lib/moat
instances:
  - id: r-app1
    listen: [127.0.0.1:6380, "[::1]:6380"]
    backend: redis://:pw@127.0.0.1:6379/2
    params:
      drop-on-revoke: "yes"
    whitelist:
      - group: dev
        ips: [10.0.1.0/24, 10.0.2.5]
      - group: ops
        attribute: hidden
        ips: [192.168.0.0/16]
  - id: r-app2
    listen: [127.0.0.1:6381]
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.DataDir != "/var/lib/moat" || len(insts) != 2 {
		t.Fatalf("file %+v, %d instances", f, len(insts))
	}
	a := insts[0]
	if a.Name != "r-app1" || a.EngineVersion != DefaultEngineVersion || a.Param("drop-on-revoke") != "yes" {
		t.Fatalf("defaults: %+v", a)
	}
	names := []string{}
	for _, g := range a.Groups {
		names = append(names, g.Name+"="+allowlist.FormatList(g.Entries))
	}
	if got := strings.Join(names, " "); got != "default=127.0.0.1 dev=10.0.1.0/24,10.0.2.5 ops=192.168.0.0/16" {
		t.Fatalf("groups: %s", got)
	}
	if insts[1].Backend != "embedded" {
		t.Fatalf("default backend: %q", insts[1].Backend)
	}
}

// Every problem is reported at once, each naming the file, the line, the field and the bad value.
func TestParseReportsEveryProblem(t *testing.T) {
	_, _, err := Parse("moat.yaml", []byte(`instances:
  - id: R-Bad
    listen: [127.0.0.1]
    backend: mysql://x
    params:
      drop-on-revoke: maybe
      colour: blue
    whitelist:
      - group: Dev
        ips: [10.0.0.5/24]
      - group: ok
        ips: [10.0.0.1, 10.0.0.1]
  - id: r-two
    listen: []
`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`moat.yaml:2: instances[0].id: "R-Bad"`,
		`moat.yaml:3: instances[0].listen[0]: "127.0.0.1"`,
		`moat.yaml:4: instances[0].backend: "mysql://x"`,
		`moat.yaml:6: instances[0].params.drop-on-revoke: "maybe"`,
		`instances[0].params.colour: "blue"`,
		`moat.yaml:9: instances[0].whitelist[0]`, `10.0.0.0/24`, `"Dev"`,
		`instances[0].whitelist[1]`, `duplicate`,
		`instances[1].listen: an instance needs at least one listen address`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestParseRefusesUnknownFieldsAndDuplicates(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "instances:\n  - id: r-a\n    listne: [127.0.0.1:1]\n",
		"duplicate id":  "instances:\n  - id: r-a\n    listen: [127.0.0.1:1]\n  - id: r-a\n    listen: [127.0.0.1:2]\n",
		"shared listen": "instances:\n  - id: r-a\n    listen: [127.0.0.1:1]\n  - id: r-b\n    listen: [127.0.0.1:1]\n",
		"group twice":   "instances:\n  - id: r-a\n    listen: [127.0.0.1:1]\n    whitelist:\n      - {group: a1, ips: [1.2.3.4]}\n      - {group: a1, ips: [1.2.3.5]}\n",
		"no instances":  "data_dir: x\n",
		"not yaml":      "instances: [\n",
		"wrong shape":   "instances: 5\n",
	} {
		if _, _, err := Parse("moat.yaml", []byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "moat.yaml") && !strings.Contains(err.Error(), "moat.yaml") {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("instances:\n  - id: r-a\n    listen: [127.0.0.1:1]\n    whitelist:\n      - {group: dev, ips: [10.0.0.0/8]}\n"))
	f.Add([]byte("instances: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, insts, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, in := range insts {
			if verr := in.Validate(); verr != nil {
				t.Fatalf("Parse accepted an invalid instance: %v", verr)
			}
		}
	})
}
