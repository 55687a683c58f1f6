package config

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

func TestParseValid(t *testing.T) {
	f, insts, err := Parse("moat.yaml", []byte(`
data_dir: /var/lib/moat
audit_retention_days: 400
audit_failed_calls: 500
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
	if f.DataDir != "/var/lib/moat" || f.AuditRetentionDays != 400 || f.AuditFailedCalls != 500 || len(insts) != 2 {
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
	if insts[1].Backend != "auto" {
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

// Settings that cannot be decoded (unknown, repeated, of the wrong type) are reported together with
// every other problem of the file, in the order of the file, each naming the file, line, field and bad
// value; a setting that cannot be decoded is not reported a second time as missing or invalid.
func TestParseReportsDecodingProblemsWithTheRest(t *testing.T) {
	f, insts, err := Parse("moat.yaml", []byte(`instances:
  - id: r-one
    listne: [127.0.0.1:6380]
    listen: 127.0.0.1:6381
    port: six
    params:
      drop-on-revoke: maybe
      protected-mode: [no]
    whitelist:
      - group: dev
        ips: [10.0.0.5/24]
        colour: blue
  - id: R-Two
    listen: [127.0.0.1:6382]
    id: r-two
    tls_port: [6383]
data_dir: [a, b]
`))
	if err == nil || f != nil || insts != nil {
		t.Fatalf("accepted: %v %v %v", f, insts, err)
	}
	want := `invalid configuration (11 problem(s)):
  moat.yaml:3: instances[0].listne: not a known setting (known: id, name, listen, backend, engine_version, params, whitelist, type, architecture, tls_listen, bind, port, tls_port)
  moat.yaml:4: instances[0].listen: "127.0.0.1:6381": want a list
  moat.yaml:5: instances[0].port: "six": want a whole number
  moat.yaml:7: instances[0].params.drop-on-revoke: "maybe": parameter "drop-on-revoke": value "maybe": must be yes or no: invalid parameter
  moat.yaml:8: instances[0].params.protected-mode: want a single value, got a list
  moat.yaml:10: instances[0].whitelist[0]: "10.0.0.5/24": group "dev": entry "10.0.0.5/24": host bits are set (use 10.0.0.0/24)
  moat.yaml:12: instances[0].whitelist[0].colour: not a known setting (known: group, attribute, ips)
  moat.yaml:13: instances[1].id: "R-Two": ` + model.ErrInstanceID.Error() + `
  moat.yaml:15: instances[1].id: "r-two": set twice (first on line 13)
  moat.yaml:16: instances[1].tls_port: want a whole number, got a list
  moat.yaml:17: data_dir: want a single value, got a list`
	if got := err.Error(); got != want {
		t.Fatalf("error:\n%s\nwant:\n%s", got, want)
	}
}

// Anchors, aliases and merge keys work as in any YAML file.
func TestParseAnchorsAndMerges(t *testing.T) {
	_, insts, err := Parse("moat.yaml", []byte(`instances:
  - &first
    id: r-one
    listen: [127.0.0.1:6380]
    backend: redis://127.0.0.1:6379/1
    whitelist: &office
      - {group: office, ips: [10.1.0.0/16]}
  - <<: *first
    id: r-two
    listen: [127.0.0.1:6381]
  - id: r-three
    listen: [127.0.0.1:6382]
    whitelist: *office
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 3 {
		t.Fatalf("%d instances", len(insts))
	}
	two, three := insts[1], insts[2]
	if two.ID != "r-two" || two.Listen[0] != "127.0.0.1:6381" || two.Backend != "redis://127.0.0.1:6379/1" {
		t.Fatalf("merged instance: %+v", two)
	}
	for _, in := range []model.Instance{two, three} {
		if g := in.Groups[len(in.Groups)-1]; g.Name != "office" || allowlist.FormatList(g.Entries) != "10.1.0.0/16" {
			t.Fatalf("%s: groups %+v", in.ID, in.Groups)
		}
	}
	for _, tc := range []struct{ doc, want string }{
		{"instances:\n  - &x\n    <<: *x\n    id: r-a\n    listen: [127.0.0.1:1]\n", "moat.yaml:3: instances[0].<<: the merged mapping includes itself"},
		{"instances:\n  - <<: 5\n    id: r-a\n    listen: [127.0.0.1:1]\n", `moat.yaml:2: instances[0].<<: "5": want a mapping`},
	} {
		_, _, err := Parse("moat.yaml", []byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n  ") != 1 {
			t.Errorf("%q: %v, want only %q", tc.doc, err, tc.want)
		}
	}
}

// A few lines that expand, through aliases, to eight million values are refused instead of decoded.
func TestParseRefusesAliasBombs(t *testing.T) {
	ips := "&ips [" + strings.Repeat("10.0.0.1, ", 199) + "10.0.0.1]"
	groups := "&groups [{group: g, ips: " + ips + "}" + strings.Repeat(", {group: g, ips: *ips}", 199) + "]"
	doc := "instances:\n  - {id: r-a, listen: [127.0.0.1:1], whitelist: " + groups + "}\n" +
		strings.Repeat("  - {id: r-a, listen: [127.0.0.1:1], whitelist: *groups}\n", 199)
	_, _, err := Parse("moat.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "moat.yaml: top level: aliases expand the file to more than") {
		t.Fatalf("alias bomb: %.300v", err)
	}
	if n := strings.Count(err.Error(), "\n  "); n != 1 {
		t.Fatalf("alias bomb: %d problems, want only the expansion: %.300v", n, err)
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
	f.Add([]byte("instances:\n  - &a\n    id: r-a\n    listen: [127.0.0.1:1]\n    params: {x: 1}\n  - <<: *a\n    id: r-b\n    port: 5\n"))
	f.Add([]byte("instances:\n  - id: r-a\n    listen: x\n    port: [1]\n    id: r-b\n    colour: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAgainstYAML(t, data)
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

// checkDecodeAgainstYAML compares decodeNode with the oracle, yaml's own strict decoder: where yaml
// decodes the file without error, decodeNode must report nothing and build the same File; where yaml
// refuses it, decodeNode must report a problem.
func checkDecodeAgainstYAML(t *testing.T, data []byte) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return // not YAML: Parse stops there
	}
	var want File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	werr := dec.Decode(&want)
	if werr != nil && !errors.Is(werr, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(werr, &te) {
			return // an error yaml's parser meets only when decoding (alias limits and the like)
		}
	} else {
		werr = nil
	}
	var got File
	p := problems{file: "fuzz.yaml", root: &root}
	decodeNode(&root, "", reflect.ValueOf(&got).Elem(), &p)
	// Stricter than yaml on purpose: a setting with an empty name (": 5"), which yaml skips.
	if werr == nil && len(p.list) > 0 && !slices.ContainsFunc(p.list, func(pr problem) bool {
		return !strings.Contains(pr.text, "must be a plain word, not empty")
	}) {
		return
	}
	switch {
	case werr == nil && len(p.list) > 0:
		t.Fatalf("yaml decodes %q, decodeNode reports %v", data, p.list)
	case werr == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%q: decodeNode built %+v, yaml %+v", data, got, want)
	case werr != nil && len(p.list) == 0:
		t.Fatalf("yaml refuses %q (%v), decodeNode reports nothing", data, werr)
	}
}

// The audit settings are counts: a negative one is reported, naming the field and the value.
func TestParseAuditSettings(t *testing.T) {
	_, _, err := Parse("moat.yaml", []byte("audit_retention_days: -1\naudit_failed_calls: -5\ninstances:\n  - id: r-app1\n    listen: [127.0.0.1:6380]\n"))
	for _, want := range []string{`audit_retention_days: "-1"`, `audit_failed_calls: "-5"`, "positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

// Issue 15.7: an error in the file quotes the bad value, but never a password: a bad backend URL shows
// its password masked, a bad requirepass is not repeated at all.
func TestParseErrorsHideSecrets(t *testing.T) {
	long := strings.Repeat("Cfg_Secret_9", 400) // over requirepass's 4096 bytes
	_, _, err := Parse("moat.yaml", []byte(`instances:
  - id: r-one
    listen: [127.0.0.1:6380]
    backend: redis://app:Cfg_Secret_1@h:99999
    params:
      requirepass: `+long+`
  - id: r-two
    listen: [127.0.0.1:6381]
    backend: unix://relative.sock?password=Cfg_Secret_2
`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{`instances[0].backend: "redis://app:xxxxx@h:99999"`, `port "99999"`,
		`instances[0].params.requirepass: "xxxxx"`, `instances[1].backend`, `password=xxxxx`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "Cfg_Secret") {
		t.Errorf("the error holds a password:\n%s", msg)
	}
}

// The fleet settings: store, etcd and the gateway's address and name; a bad one is named.
func TestFleetSettings(t *testing.T) {
	f, _, err := Parse("moat.yaml", []byte(`store: etcd
etcd:
  endpoints: [10.0.0.11:2379, 10.0.0.12:2379]
  prefix: /prod/moat/
  cacert: /etc/moat/ca.pem
  user: moat
listen_host: 10.0.1.21
gateway_name: gw1
instances:
  - id: r-app
    listen: [0.0.0.0:6380]
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Store != StoreEtcd || len(f.Etcd.Endpoints) != 2 || f.Etcd.Prefix != "/prod/moat/" || f.Etcd.CACert != "/etc/moat/ca.pem" ||
		f.Etcd.User != "moat" || f.ListenHost != "10.0.1.21" || f.GatewayName != "gw1" {
		t.Fatalf("parsed %+v", f)
	}
	_, _, err = Parse("moat.yaml", []byte("store: zookeeper\nlisten_host: gw1\ninstances:\n  - id: r-app\n    listen: [0.0.0.0:6380]\n"))
	for _, want := range []string{`store`, `"zookeeper": want bolt or etcd`, `listen_host`, `"gw1": want an IP address`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("bad fleet settings: %v; want %q in it", err, want)
		}
	}
}
