package api

// ECS security groups: create, delete, describe, modify attributes, join and leave hosts.

import (
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

func createSecurityGroup(c *call) (any, error) {
	g := model.SecurityGroup{ID: c.params.Get("SecurityGroupId"), Name: c.params.Get("SecurityGroupName"),
		Description: c.params.Get("Description"), VpcID: c.params.Get("VpcId")}
	if t := c.params.Get("SecurityGroupType"); t != "" && t != "normal" {
		return nil, errSecurityGroupType
	}
	g, err := c.h.plane.CreateSecurityGroup(c.actor, g)
	if err != nil {
		return nil, err
	}
	return map[string]any{"SecurityGroupId": g.ID}, nil
}

func deleteSecurityGroup(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.DeleteSecurityGroup(c.actor, id)
}

func modifySecurityGroupAttribute(c *call) (any, error) {
	id, err := c.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	var name, desc *string
	if c.has("SecurityGroupName") {
		v := c.params.Get("SecurityGroupName")
		if err := model.CheckSecurityGroupName(v); err != nil {
			return nil, err
		}
		name = &v
	}
	if c.has("Description") {
		v := c.params.Get("Description")
		if err := model.CheckSecurityGroupDescription(v); err != nil {
			return nil, err
		}
		desc = &v
	}
	return map[string]any{}, c.h.plane.ModifySecurityGroupAttribute(c.actor, id, name, desc)
}

// sgView is a group as DescribeSecurityGroups shows it (the SDK's ecs.SecurityGroup), plus moat's
// MoatMembers and MoatBoundInstances, which the SDK ignores.
type sgView struct {
	SecurityGroupId    string
	SecurityGroupName  string
	Description        string
	SecurityGroupType  string
	VpcId              string
	CreationTime       string
	EcsCount           int
	RuleCount          int
	ServiceManaged     bool
	MoatMembers        []string
	MoatBoundInstances []string
}

func describeSecurityGroups(c *call) (any, error) {
	all, err := c.h.plane.SecurityGroups()
	if err != nil {
		return nil, err
	}
	bound, err := c.h.plane.BoundInstances()
	if err != nil {
		return nil, err
	}
	ids := idSet(c.params.Get("SecurityGroupIds"))
	for _, id := range splitList(c.params.Get("SecurityGroupId")) {
		ids[id] = true
	}
	name, vpc := c.params.Get("SecurityGroupName"), c.params.Get("VpcId")
	fuzzy := c.params.Get("FuzzyQuery") == "true"
	page, size, err := paging(c)
	if err != nil {
		return nil, err
	}
	list := []sgView{}
	for _, g := range all {
		switch {
		case len(ids) > 0 && !ids[g.ID]:
			continue
		case name != "" && !fuzzy && g.Name != name, name != "" && fuzzy && !strings.Contains(g.Name, name):
			continue
		case vpc != "" && g.VpcID != vpc:
			continue
		}
		list = append(list, sgView{g.ID, g.Name, g.Description, "normal", g.VpcID, g.Created, len(g.Members),
			len(g.Rules), false, g.Members, orEmpty(bound[g.ID])})
	}
	return map[string]any{"RegionId": region(c), "TotalCount": len(list), "PageNumber": page, "PageSize": size,
		"NextToken": "", "SecurityGroups": map[string]any{"SecurityGroup": pageOf(list, page, size)}}, nil
}

func joinSecurityGroup(c *call) (any, error) {
	sg, host, err := membership(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.JoinSecurityGroup(c.actor, sg, host)
}

func leaveSecurityGroup(c *call) (any, error) {
	sg, host, err := membership(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.h.plane.LeaveSecurityGroup(c.actor, sg, host)
}

func membership(c *call) (sg, host string, err error) {
	if sg, err = c.required("SecurityGroupId"); err != nil {
		return "", "", err
	}
	if c.params.Get("NetworkInterfaceId") != "" {
		return "", "", errNoNetworkInterfaces
	}
	host, err = c.required("InstanceId")
	return sg, host, err
}
