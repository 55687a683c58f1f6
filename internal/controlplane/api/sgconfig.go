package api

import (
	"strings"

	"github.com/moat-dev/moat/internal/controlplane/model"
)

// R-kvstore 2015-01-01: the security groups bound to an instance (SPEC SG2, SG3; reference §3).

// sgRelation is one bound group as DescribeSecurityGroupConfiguration shows it.
type sgRelation struct {
	SecurityGroupId string
	RegionId        string
	NetType         string // vpc when the group has a VPC, else classic
}

// describeSecurityGroupConfiguration lists the groups bound to InstanceId, in the order they were given.
func describeSecurityGroupConfiguration(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	in, err := c.h.plane.Instance(id)
	if err != nil {
		return nil, err
	}
	items := []sgRelation{}
	for _, sg := range in.SecurityGroups {
		net := "classic"
		if g, err := c.h.plane.SecurityGroup(sg); err == nil && g.VpcID != "" {
			net = "vpc"
		}
		items = append(items, sgRelation{sg, region(c), net})
	}
	return map[string]any{"Items": map[string]any{"EcsSecurityGroupRelation": items}}, nil
}

// modifySecurityGroupConfiguration replaces the groups bound to DBInstanceId with SecurityGroupId, a comma
// list of at most 10 (present but empty: unbind every group). The new allow set is published before it
// answers.
func modifySecurityGroupConfiguration(c *call) (any, error) {
	id := first(c.params.Get("DBInstanceId"), c.params.Get("InstanceId"))
	if id == "" {
		return nil, missing("DBInstanceId")
	}
	if !c.has("SecurityGroupId") {
		return nil, missing("SecurityGroupId")
	}
	var groups []string
	for _, g := range strings.Split(c.params.Get("SecurityGroupId"), ",") {
		if g != "" {
			groups = append(groups, g)
		}
	}
	return map[string]any{}, c.h.plane.BindSecurityGroups(c.actor, id, groups)
}

// instanceKind reads CreateInstance's ArchitectureType (standard, cluster, rw_split; the cloud's rwsplit
// too) and moat's Architecture (classic, cloud_native) into the instance; absent, the defaults stay.
func instanceKind(c *call, in *model.Instance) error {
	var err error
	if v := c.params.Get("ArchitectureType"); v != "" {
		if in.Type, err = model.ParseType(v); err != nil {
			return err
		}
	}
	if v := c.params.Get("Architecture"); v != "" {
		if in.Architecture, err = model.ParseArchitecture(v); err != nil {
			return err
		}
	}
	return nil
}

// cloudArchitectureType is the instance type as the cloud spells ArchitectureType.
func cloudArchitectureType(in model.Instance) string {
	if t := in.InstanceType(); t != model.TypeRWSplit {
		return t
	}
	return "rwsplit"
}
