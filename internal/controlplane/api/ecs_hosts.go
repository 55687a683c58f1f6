package api

// ECS hosts (DescribeInstances under 2014-05-26) and moat's CreateHost, ModifyHost, DeleteHost.

import (
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// hostView is a host as ECS DescribeInstances shows an instance (the SDK's ecs.Instance fields that apply).
type hostView struct {
	InstanceId          string
	InstanceName        string
	HostName            string
	Status              string
	InstanceNetworkType string
	RegionId            string
	VpcAttributes       vpcAttributes
	InnerIpAddress      ipList
	PublicIpAddress     ipList
	SecurityGroupIds    struct{ SecurityGroupId []string }
	MoatHostKind        string // ecs or eci
}

type vpcAttributes struct {
	VpcId            string
	PrivateIpAddress ipList
}

type ipList struct{ IpAddress []string }

func viewHost(h model.Host, groups []string, regionID string) hostView {
	v := hostView{InstanceId: h.ID, InstanceName: h.Name, HostName: h.Name, Status: "Running", InstanceNetworkType: "vpc",
		RegionId: regionID, VpcAttributes: vpcAttributes{h.VpcID, ipList{orEmpty(h.PrivateIPs)}},
		InnerIpAddress: ipList{[]string{}}, PublicIpAddress: ipList{[]string{}}, MoatHostKind: h.Kind()}
	if h.VpcID == "" {
		v.InstanceNetworkType = "classic"
		v.InnerIpAddress.IpAddress = orEmpty(h.PrivateIPs)
	}
	if h.PublicIP != "" {
		v.PublicIpAddress.IpAddress = []string{h.PublicIP}
	}
	v.SecurityGroupIds.SecurityGroupId = orEmpty(groups)
	return v
}

// describeHosts is ECS DescribeInstances: the registered hosts, filtered by InstanceIds, InstanceName
// (with * wildcards), PrivateIpAddresses, PublicIpAddresses, SecurityGroupId and VpcId, paged.
func describeHosts(c *call) (any, error) {
	if !c.key.Allows(c.action, "") {
		return nil, errForbidden // DescribeInstances allowed on some R-kvstore instances does not list hosts
	}
	hosts, err := c.h.plane.Hosts()
	if err != nil {
		return nil, err
	}
	member, err := c.h.plane.HostGroups()
	if err != nil {
		return nil, err
	}
	set := func(p string) map[string]bool { return idSet(c.params.Get(p)) }
	ids, privs, pubs := set("InstanceIds"), set("PrivateIpAddresses"), set("PublicIpAddresses")
	name, sg, vpc := c.params.Get("InstanceName"), c.params.Get("SecurityGroupId"), c.params.Get("VpcId")
	page, size, err := paging(c)
	if err != nil {
		return nil, err
	}
	list := []hostView{}
	for _, h := range hosts {
		switch {
		case len(ids) > 0 && !ids[h.ID]:
		case name != "" && !matchName(name, h.Name):
		case len(privs) > 0 && !anyIn(h.PrivateIPs, privs):
		case len(pubs) > 0 && !pubs[h.PublicIP]:
		case sg != "" && !contains(member[h.ID], sg):
		case vpc != "" && h.VpcID != vpc:
		default:
			list = append(list, viewHost(h, member[h.ID], region(c)))
		}
	}
	return map[string]any{"Instances": map[string]any{"Instance": pageOf(list, page, size)}, "TotalCount": len(list),
		"PageNumber": page, "PageSize": size, "NextToken": ""}, nil
}

// matchName matches an ECS InstanceName filter: exact, or with * standing for any characters.
func matchName(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	rest := name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

func anyIn(list []string, set map[string]bool) bool {
	for _, v := range list {
		if set[v] {
			return true
		}
	}
	return false
}

// hostAddrs reads PrivateIpAddress (a comma list or JSON array) and PublicIpAddress into canonical form.
func hostAddrs(c *call, h *model.Host) error {
	if c.has("PrivateIpAddress") {
		h.PrivateIPs = nil
		for _, s := range idList(c.params.Get("PrivateIpAddress")) {
			a, err := model.ParseHostAddr(s)
			if err != nil {
				return err
			}
			h.PrivateIPs = append(h.PrivateIPs, a)
		}
	}
	if c.has("PublicIpAddress") {
		h.PublicIP = ""
		if s := c.params.Get("PublicIpAddress"); s != "" {
			a, err := model.ParseHostAddr(s)
			if err != nil {
				return err
			}
			h.PublicIP = a
		}
	}
	return nil
}

// createHost registers a host (moat): InstanceId (default generated "i-…"), InstanceName,
// PrivateIpAddress (comma list, at least one), PublicIpAddress, VpcId.
func createHost(c *call) (any, error) {
	h := model.Host{ID: first(c.params.Get("InstanceId"), model.NewHostID()), Name: c.params.Get("InstanceName"),
		VpcID: c.params.Get("VpcId")}
	if err := hostAddrs(c, &h); err != nil {
		return nil, err
	}
	if err := c.h.plane.CreateHost(c.actor, h); err != nil {
		return nil, err
	}
	return map[string]any{"InstanceId": h.ID}, nil
}

// modifyHost changes a host (moat): the parameters given replace the host's (an empty PublicIpAddress
// removes it).
func modifyHost(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	var probe model.Host
	if err := hostAddrs(c, &probe); err != nil {
		return nil, err
	}
	h, err := c.h.plane.ModifyHost(c.actor, id, func(h *model.Host) {
		if c.has("InstanceName") {
			h.Name = c.params.Get("InstanceName")
		}
		if c.has("VpcId") {
			h.VpcID = c.params.Get("VpcId")
		}
		hostAddrs(c, h)
	})
	if err != nil {
		return nil, err
	}
	groups, _ := c.h.plane.HostGroups()
	return map[string]any{"Instance": viewHost(h, groups[id], region(c))}, nil
}

func deleteHost(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteHost(c.actor, id)
}
