// Package config reads moat's configuration file and turns it into instance models. Every problem in
// the file is reported at once, each naming the file, the field (with its line) and the bad value.
//
// It turns text into models and must not import the control plane, the gateway or the server: the server
// applies what it returns.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/redact"
)

// File is the configuration file's shape.
type File struct {
	// DataDir, APIListen: defaults for the matching serve flags (flags win).
	DataDir   string `yaml:"data_dir"`
	APIListen string `yaml:"api_listen"`
	// The API listener's bounds and trust (defaults for the matching serve flags; flags win).
	APIMaxConns        int        `yaml:"api_max_conns"`
	APIMaxConnsPerAddr int        `yaml:"api_max_conns_per_addr"`
	APIHosts           []string   `yaml:"api_hosts"`
	APITrustedProxies  []string   `yaml:"api_trusted_proxies"`
	MetricsListen      string     `yaml:"metrics_listen"`
	Instances          []Instance `yaml:"instances"`
	// AuditRetentionDays, AuditFailedCalls: defaults for the matching serve flags (flags win); 0 leaves
	// moat's defaults.
	AuditRetentionDays int `yaml:"audit_retention_days"`
	AuditFailedCalls   int `yaml:"audit_failed_calls"`
	// RedisServer: default for the serve flag --redis-server (flags win), the redis-server or
	// valkey-server binary that runs the instances with no backend (or backend managed).
	RedisServer string `yaml:"redis_server"`
	// The state store and this gateway's place in a fleet (fleet.go): defaults for the matching serve
	// flags (flags win).
	Store       string `yaml:"store"`
	Etcd        Etcd   `yaml:"etcd"`
	ListenHost  string `yaml:"listen_host"`
	GatewayName string `yaml:"gateway_name"`
}

// Instance declares one instance.
type Instance struct {
	ID            string            `yaml:"id"`
	Name          string            `yaml:"name"`
	Listen        []string          `yaml:"listen"`
	Backend       string            `yaml:"backend"`
	EngineVersion string            `yaml:"engine_version"`
	Params        map[string]string `yaml:"params"`
	Whitelist     []Group           `yaml:"whitelist"`
	// Type (standard, cluster, rw_split) and Architecture (classic, cloud_native) decide whether security
	// groups may be bound (SG3); empty means standard and classic.
	Type         string `yaml:"type"`
	Architecture string `yaml:"architecture"`
	// TLSListen are addresses served with TLS (N3). Instead of listen and tls_listen, redis.conf's way
	// may be used: bind (addresses, default 127.0.0.1), port and tls_port (0: none) — see net.go.
	TLSListen []string `yaml:"tls_listen"`
	Bind      []string `yaml:"bind"`
	Port      *int     `yaml:"port"`
	TLSPort   *int     `yaml:"tls_port"`
}

// Group declares one whitelist group.
type Group struct {
	Group     string   `yaml:"group"`
	Attribute string   `yaml:"attribute"`
	IPs       []string `yaml:"ips"`
}

// DefaultEngineVersion is the engine version instances report unless declared.
const DefaultEngineVersion = "7.0"

// Load reads and validates path.
func Load(path string) (*File, []model.Instance, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(path, data)
}

// Parse validates a configuration file's contents; name is used in errors. Every problem is reported at
// once: unknown and repeated settings and values of the wrong type as well as invalid values. Only YAML
// that cannot be parsed at all stops at its first error.
func Parse(name string, data []byte) (*File, []model.Instance, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	p := problems{file: name, root: &root}
	var f File
	decodeNode(&root, "", reflect.ValueOf(&f).Elem(), &p)
	if p.exhausted() {
		return nil, nil, p.err() // what was decoded is incomplete: checking it would only add noise
	}
	checkAPI(&f, &p)
	checkFleet(&f, &p)
	insts := make([]model.Instance, 0, len(f.Instances))
	seenID := map[string]int{}
	seenListen := map[string]string{}
	if len(f.Instances) == 0 {
		p.add("instances", "", "declare at least one instance")
	}
	for _, c := range []struct {
		field string
		n     int
	}{{"audit_retention_days", f.AuditRetentionDays}, {"audit_failed_calls", f.AuditFailedCalls}} {
		if c.n < 0 {
			p.add(c.field, strconv.Itoa(c.n), "want a positive number, or 0 for moat's default")
		}
	}
	for i, ci := range f.Instances {
		path := fmt.Sprintf("instances[%d]", i)
		ci.Listen, ci.TLSListen = resolveListen(ci, path, &p)
		in := model.Instance{
			ID: ci.ID, Name: ci.Name, Listen: ci.Listen, Backend: ci.Backend,
			EngineVersion: ci.EngineVersion, Params: ci.Params, Origin: model.OriginConfig,
		}
		in.TLSListen = ci.TLSListen
		if in.Name == "" {
			in.Name = in.ID
		}
		if in.Backend == "" {
			in.Backend = "auto" // a managed server when one is found, else the in-process engine
		}
		if in.EngineVersion == "" {
			in.EngineVersion = DefaultEngineVersion
		}
		if err := model.CheckID(ci.ID); err != nil {
			p.add(path+".id", ci.ID, model.ErrInstanceID.Error())
		} else if j, dup := seenID[ci.ID]; dup {
			p.add(path+".id", ci.ID, fmt.Sprintf("already used by instances[%d]", j))
		} else {
			seenID[ci.ID] = i
		}
		if len(ci.Listen) == 0 && len(ci.TLSListen) == 0 {
			p.add(path+".listen", "", "an instance needs at least one listen address (host:port)")
		}
		for j, l := range ci.Listen {
			if err := model.CheckListen(l); err != nil {
				p.add(fmt.Sprintf("%s.listen[%d]", path, j), l, errors.Unwrap(err).Error())
			} else if other, dup := seenListen[l]; dup {
				p.add(fmt.Sprintf("%s.listen[%d]", path, j), l, "already used by "+other)
			} else {
				seenListen[l] = path
			}
		}
		checkTLSListen(in, path, seenListen, &p)
		if err := model.CheckBackend(in.Backend); err != nil {
			p.add(path+".backend", redact.Secret(redact.KindURL, in.Backend), err.Error())
		}
		if t, err := model.ParseType(ci.Type); err != nil {
			p.add(path+".type", ci.Type, model.ErrInstanceType.Error())
		} else if ci.Type != "" {
			in.Type = t
		}
		if a, err := model.ParseArchitecture(ci.Architecture); err != nil {
			p.add(path+".architecture", ci.Architecture, model.ErrArchitecture.Error())
		} else if ci.Architecture != "" {
			in.Architecture = a
		}
		for k, v := range ci.Params {
			if err := model.CheckParam(k, v); err != nil {
				p.add(path+".params."+k, model.ShownValue(k, v), err.Error())
			}
		}
		in.Groups = allowlist.Initial()
		seenGroup := map[string]bool{}
		for j, g := range ci.Whitelist {
			gpath := fmt.Sprintf("%s.whitelist[%d]", path, j)
			name := g.Group
			if name == "" {
				name = allowlist.DefaultGroup
			}
			if seenGroup[name] {
				p.add(gpath+".group", name, "group declared twice")
				continue
			}
			seenGroup[name] = true
			groups, _, err := allowlist.Apply(in.Groups, allowlist.Change{
				Group: name, Attribute: g.Attribute, Mode: allowlist.Cover,
				Entries: strings.Join(g.IPs, ","), System: true,
			})
			if err != nil {
				for _, e := range flatten(err) {
					p.add(gpath, strings.Join(g.IPs, ","), e.Error())
				}
				continue
			}
			in.Groups = groups
		}
		insts = append(insts, in)
	}
	if err := p.err(); err != nil {
		return nil, nil, err
	}
	return &f, insts, nil
}

// flatten lists the errors inside an errors.Join.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// problems collects validation errors with the line of the field they concern. A field whose value
// could not be decoded (failed) is reported once: later problems at or under its path, which only
// follow from its zero value, are dropped.
type problems struct {
	file   string
	root   *yaml.Node
	list   []problem
	failed []string

	// Decoding state (line.go): the merge keys being applied, and the values decoded so far against the
	// most a file of this size may expand to.
	merging       map[*yaml.Node]bool
	spent, budget int
}

// add reports a problem at path, located by the path's line in the document, unless the path's value
// (or one holding it) could not be decoded.
func (p *problems) add(path, value, msg string) {
	for _, f := range p.failed {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return
		}
	}
	p.record(lineOf(p.root, path), path, value, msg)
}

// undecodable reports a setting that could not be decoded, and marks its path as failed.
func (p *problems) undecodable(line int, path, value, msg string) {
	p.record(line, path, value, msg)
	p.failed = append(p.failed, path)
}

// record reports a problem on the given line (0: unknown).
func (p *problems) record(line int, path, value, msg string) {
	if path == "" {
		path = "top level"
	}
	loc := p.file
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", p.file, line)
	}
	text := fmt.Sprintf("%s: %s: %s", loc, path, msg)
	if value != "" {
		text = fmt.Sprintf("%s: %s: %q: %s", loc, path, value, msg)
	}
	p.list = append(p.list, problem{line, text})
}

type problem struct {
	line int // 0: unknown
	text string
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	// In the order of the file; problems of the file as a whole (no line) first.
	slices.SortStableFunc(p.list, func(a, b problem) int { return a.line - b.line })
	texts := make([]string, len(p.list))
	for i, pr := range p.list {
		texts[i] = pr.text
	}
	return fmt.Errorf("invalid configuration (%d problem(s)):\n  %s", len(texts), strings.Join(texts, "\n  "))
}
