package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/backend/spec"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// instanceView is an instance as DescribeInstances and DescribeInstanceAttribute show it: the SDK's field
// names, plus moat's own (ListenAddresses, Backend, Params) that the SDK ignores.
type instanceView struct {
	InstanceId       string
	InstanceName     string
	InstanceStatus   string
	ConnectionDomain string
	Port             int64
	EngineVersion    string
	Engine           string
	InstanceType     string
	ArchitectureType string
	NetworkType      string
	Architecture     string // moat: classic or cloud_native
	SecurityIPList   string `json:",omitempty"`
	ListenAddresses  []string
	Backend          string
	Origin           string

	// moat: the TLS listen addresses (N3).
	TLSListenAddresses []string `json:",omitempty"`
	// moat: what serves the instance's data (absent when this moat does not serve it).
	BackendEngine *engineView `json:",omitempty"`
}

// engineView is what serves an instance's data: Kind "managed" (a redis-server or valkey-server moat
// runs: Server, Version, PID — 0 while it restarts), "in-process" or "external".
type engineView struct {
	Kind    string
	Server  string `json:",omitempty"`
	Version string `json:",omitempty"`
	PID     int    `json:",omitempty"`
}

// EngineSource is the part of the Runtime that says what serves an instance (reached through the
// server). Without it the instances are described without BackendEngine.
type EngineSource interface {
	// InstanceEngine describes the engine of a served instance; ok=false if it is not served here.
	InstanceEngine(instanceID string) (e spec.Engine, ok bool)
}

// withEngine adds what serves the instance, when the runtime says.
func (c *call) withEngine(v instanceView) instanceView {
	src, ok := c.h.runtime.(EngineSource)
	if !ok {
		return v
	}
	if e, ok := src.InstanceEngine(v.InstanceId); ok {
		v.BackendEngine = &engineView{Kind: e.Kind, Server: e.Server, Version: e.Version, PID: e.PID}
	}
	return v
}

func view(in model.Instance, withIPs bool) instanceView {
	v := instanceView{
		InstanceId: in.ID, InstanceName: in.Name, InstanceStatus: instanceStatus(in), EngineVersion: in.EngineVersion,
		Engine: "Redis", InstanceType: "Redis", ArchitectureType: "standard", NetworkType: "CLASSIC",
		ListenAddresses: in.Listen, Origin: in.Origin,
	}
	v.ArchitectureType, v.Architecture = cloudArchitectureType(in), in.InstanceArchitecture()
	v.TLSListenAddresses = in.TLSListen
	if s, err := spec.Parse(in.Backend); err == nil {
		v.Backend = s.String()
	}
	if len(in.Listen) > 0 {
		host, port, _ := net.SplitHostPort(in.Listen[0])
		v.ConnectionDomain = host
		v.Port, _ = strconv.ParseInt(port, 10, 64)
	}
	if withIPs {
		var all []string
		for _, g := range in.Groups {
			all = append(all, allowlist.FormatList(g.Entries))
		}
		v.SecurityIPList = strings.Join(all, ",")
	}
	return v
}

// instanceStatus is the cloud's InstanceStatus: Creating while the gateway creating the instance has not
// started it yet (model.Instance.Pending), else Normal.
func instanceStatus(in model.Instance) string {
	if in.Pending {
		return "Creating"
	}
	return "Normal"
}

func describeInstances(c *call) (any, error) {
	all, err := c.h.plane.Instances()
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, id := range splitList(c.params.Get("InstanceIds")) {
		ids[id] = true
	}
	search := c.params.Get("SearchKey")
	page, size, err := paging(c)
	if err != nil {
		return nil, err
	}
	var list []instanceView
	for _, in := range all {
		if len(ids) > 0 && !ids[in.ID] {
			continue
		}
		if search != "" && !strings.Contains(in.ID, search) && !strings.Contains(in.Name, search) {
			continue
		}
		if !c.key.Allows(c.action, in.ID) {
			continue // a key sees only the instances its policy names
		}
		list = append(list, c.withEngine(view(in, false)))
	}
	total := len(list)
	start := min((page-1)*size, total)
	list = list[start:min(start+size, total)]
	if list == nil {
		list = []instanceView{}
	}
	return map[string]any{"Instances": map[string]any{"KVStoreInstance": list},
		"TotalCount": total, "PageNumber": page, "PageSize": size}, nil
}

func paging(c *call) (page, size int, err error) {
	page, size = 1, 30
	if s := c.params.Get("PageNumber"); s != "" {
		if page, err = strconv.Atoi(s); err != nil || page < 1 {
			return 0, 0, errPageNumber
		}
	}
	if s := c.params.Get("PageSize"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > 100 {
			return 0, 0, errPageSize
		}
	}
	return page, size, nil
}

func describeInstanceAttribute(c *call) (any, error) {
	in, err := c.loadInstance()
	if err != nil {
		return nil, err
	}
	return map[string]any{"Instances": map[string]any{"DBInstanceAttribute": []instanceView{c.withEngine(view(in, true))}}}, nil
}

// createInstance creates an instance and starts serving it at once, admitting only 127.0.0.1 (W1).
// Besides the cloud's InstanceName and EngineVersion it takes moat's InstanceId (else one is generated),
// Listen (comma list of host:port; default: a free port on 127.0.0.1) and Backend (default auto: a
// managed server when moat found one, else the in-process engine).
//
// The control plane stores it and the data plane starts it from the change (controlplane.Plane.Create):
// the answer names the addresses bound (port 0 resolved). A start that fails — a listen address in use,
// a Redis Cluster node as backend — removes the instance again and is refused here, so that no stored
// instance is left that nothing serves.
func createInstance(c *call) (any, error) {
	if c.params.Get("Password") != "" {
		return nil, errPassword
	}
	id := c.params.Get("InstanceId")
	if id == "" {
		id = model.NewID()
	}
	in := model.Instance{
		ID: id, Name: first(c.params.Get("InstanceName"), id),
		Listen:        splitList(first(c.params.Get("Listen"), "127.0.0.1:0")),
		Backend:       first(c.params.Get("Backend"), spec.KindAuto),
		EngineVersion: first(c.params.Get("EngineVersion"), "7.0"),
		Groups:        allowlist.Initial(), Origin: model.OriginAPI,
	}
	if err := instanceKind(c, &in); err != nil { // ArchitectureType and Architecture (sgconfig.go)
		return nil, err
	}
	if err := createNet(c, &in); err != nil { // TLSListen and Config (netparams.go)
		return nil, err
	}
	if err := in.Validate(); err != nil { // the backend spec included (model.CheckBackend)
		return nil, err
	}
	if _, err := c.h.plane.Instance(id); err == nil {
		return nil, instanceExists(id)
	}
	in, err := c.h.plane.Create(c.actor, in)
	if se := (*controlplane.StartError)(nil); errors.As(err, &se) {
		if errors.Is(se.Err, spec.ErrCluster) || errors.Is(se.Err, spec.ErrClusterUnknown) {
			return nil, badBackend(se.Err)
		}
		return nil, fmt.Errorf("%w: %v", errListenInUse, se.Err)
	}
	if err != nil {
		return nil, err
	}
	v := view(in, false)
	out := map[string]any{"InstanceId": in.ID, "InstanceName": in.Name, "ConnectionDomain": v.ConnectionDomain,
		"Port": v.Port, "InstanceStatus": "Normal", "ListenAddresses": in.Listen}
	if len(in.TLSListen) > 0 {
		out["TLSListenAddresses"] = in.TLSListen
	}
	return out, nil
}

func deleteInstance(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if err := c.h.plane.DeleteInstance(c.actor, id); err != nil { // the data plane stops it from the change
		return nil, err
	}
	return map[string]any{}, nil
}

type parameter struct {
	ParameterName        string
	ParameterValue       string
	ParameterDescription string
	ModifiableStatus     string
	ForceRestart         string
	CheckingCode         string
}

func describeParameters(c *call) (any, error) {
	id := first(c.params.Get("DBInstanceId"), c.params.Get("InstanceId"))
	if id == "" {
		return nil, missing("DBInstanceId")
	}
	in, err := c.h.plane.Instance(id)
	if err != nil {
		return nil, err
	}
	var conf, running []parameter
	for _, name := range model.ParamNames() {
		p, _ := model.LookupParam(name)
		conf = append(conf, parameter{name, p.Default, p.Help, "true", "false", p.Checking})
		running = append(running, parameter{name, in.Param(name), p.Help, "true", "false", p.Checking})
	}
	sort.Slice(running, func(i, j int) bool { return running[i].ParameterName < running[j].ParameterName })
	return map[string]any{"Engine": "redis", "EngineVersion": in.EngineVersion,
		"ConfigParameters": map[string]any{"Parameter": conf}, "RunningParameters": map[string]any{"Parameter": running}}, nil
}

// modifyInstanceConfig takes Config, a JSON object of parameter names to values, and applies all or none.
func modifyInstanceConfig(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	raw, err := c.required("Config")
	if err != nil {
		return nil, err
	}
	var values map[string]any
	if err := json.Unmarshal([]byte(raw), &values); err != nil || len(values) == 0 {
		return nil, badConfig(`{"drop-on-revoke":"yes"}`)
	}
	str := map[string]string{}
	for k, v := range values {
		switch v := v.(type) {
		case string:
			str[k] = v
		case float64:
			str[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			str[k] = map[bool]string{true: "yes", false: "no"}[v]
		default:
			return nil, badConfigValue(k)
		}
	}
	return map[string]any{}, c.h.plane.SetParams(c.actor, id, str)
}

// splitList splits a comma list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
