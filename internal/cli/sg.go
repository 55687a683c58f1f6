package cli

// moat sg: security groups, their members and rules (export, plan, apply and render are in sgplan.go).

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newSG(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "sg", Short: "Security groups: members, rules, export, batch plan/apply, host rulesets"}
	cmd.AddCommand(newSGCreate(o), newSGDelete(o), newSGList(o), newSGMember(o, "join"), newSGMember(o, "leave"),
		newSGAuthorize(o), newSGRevoke(o), newSGRules(o), newSGExport(o), newSGPlan(o, false), newSGPlan(o, true),
		newSGRender(o))
	return cmd
}

func newSGCreate(o *Options) *cobra.Command {
	var id, name, desc, vpc string
	cmd := &cobra.Command{
		Use: "create", Short: "Create a security group (CreateSecurityGroup)", Args: cobra.NoArgs,
		Example: `  moat sg create --name app-servers`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct{ SecurityGroupId string }
			if err := o.callECS("CreateSecurityGroup", map[string]string{"SecurityGroupId": id, "SecurityGroupName": name,
				"Description": desc, "VpcId": vpc}, &out); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "created security group %s\n", out.SecurityGroupId)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", `security group ID ("sg-" + lowercase letters and digits; default generated)`)
	f.StringVar(&name, "name", "", "name")
	f.StringVar(&desc, "description", "", "description")
	f.StringVar(&vpc, "vpc", "", "VPC ID (vpc-…)")
	return cmd
}

func newSGDelete(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a security group; refused while it has members or is bound to an instance (DeleteSecurityGroup)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.callECS("DeleteSecurityGroup", map[string]string{"SecurityGroupId": id}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"SecurityGroupId": id, "Deleted": "true"},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted security group %s\n", id) })
		},
	}
	cmd.Flags().StringVar(&id, "sg", "", "security group ID")
	required(cmd, "sg")
	return cmd
}

type sgInfo struct {
	SecurityGroupId, SecurityGroupName, Description, VpcId, CreationTime string
	EcsCount, RuleCount                                                  int
	MoatMembers, MoatBoundInstances                                      []string
}

func newSGList(o *Options) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List security groups with their members and the instances they are bound to (DescribeSecurityGroups)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []sgInfo
			for page := 1; ; page++ {
				var out struct {
					SecurityGroups struct{ SecurityGroup []sgInfo }
					TotalCount     int
				}
				if err := o.callECS("DescribeSecurityGroups", map[string]string{"PageNumber": fmt.Sprint(page), "PageSize": "100"}, &out); err != nil {
					return err
				}
				all = append(all, out.SecurityGroups.SecurityGroup...)
				if len(out.SecurityGroups.SecurityGroup) == 0 || len(all) >= out.TotalCount {
					break
				}
			}
			return o.emit(cmd.OutOrStdout(), all, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tNAME\tVPC\tRULES\tMEMBERS\tBOUND TO")
				for _, g := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", g.SecurityGroupId, g.SecurityGroupName, dash(g.VpcId), g.RuleCount,
						dash(strings.Join(g.MoatMembers, ",")), dash(strings.Join(g.MoatBoundInstances, ",")))
				}
			})
		},
	}
}

func newSGMember(o *Options, verb string) *cobra.Command {
	var sg, host string
	action, short, done := "JoinSecurityGroup", "Add a host to a security group; bound instances allow its IPs at once", "joined"
	if verb == "leave" {
		action, short, done = "LeaveSecurityGroup", "Remove a host from a security group; its next connection is refused unless something else allows it", "left"
	}
	cmd := &cobra.Command{
		Use: verb, Short: short + " (" + action + ")", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.callECS(action, map[string]string{"SecurityGroupId": sg, "InstanceId": host}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"SecurityGroupId": sg, "InstanceId": host, "Result": done},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "host %s %s security group %s\n", host, done, sg) })
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "security group ID")
	cmd.Flags().StringVar(&host, "host", "", "host ID")
	required(cmd, "sg", "host")
	return cmd
}

// ruleFlags are the flags of one rule (authorize, revoke).
type ruleFlags struct {
	direction, protocol, ports, cidr, policy, priority, nic, desc string
}

func (r *ruleFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.direction, "direction", "ingress", "ingress or egress")
	f.StringVar(&r.protocol, "protocol", "", "tcp, udp, icmp, icmpv6, gre or all")
	f.StringVar(&r.ports, "port", "", `port range "start/end" (tcp, udp), e.g. 6379/6379; -1/-1 otherwise (the default)`)
	f.StringVar(&r.cidr, "cidr", "", "source (ingress) or destination (egress) address or CIDR block, IPv4 or IPv6")
	f.StringVar(&r.policy, "policy", "", "accept (default) or drop")
	f.StringVar(&r.priority, "priority", "", "1 (default, first) to 100")
	f.StringVar(&r.nic, "nic-type", "", "intranet (default) or internet")
	f.StringVar(&r.desc, "description", "", "description")
}

// params returns the rule as ECS's flat parameters and the action suffix of its direction.
func (r *ruleFlags) params() (map[string]string, string, error) {
	p := map[string]string{"IpProtocol": r.protocol, "PortRange": r.ports, "Policy": r.policy, "Priority": r.priority,
		"NicType": r.nic, "Description": r.desc}
	v6 := strings.Contains(r.cidr, ":")
	switch r.direction {
	case "ingress":
		p[map[bool]string{false: "SourceCidrIp", true: "Ipv6SourceCidrIp"}[v6]] = r.cidr
		return p, "", nil
	case "egress":
		p[map[bool]string{false: "DestCidrIp", true: "Ipv6DestCidrIp"}[v6]] = r.cidr
		return p, "Egress", nil
	}
	return nil, "", usageError{fmt.Errorf("--direction %q: want ingress or egress", r.direction)}
}

func newSGAuthorize(o *Options) *cobra.Command {
	var sg string
	var rf ruleFlags
	cmd := &cobra.Command{
		Use:   "authorize",
		Short: "Add a rule; an identical rule is not added twice (AuthorizeSecurityGroup[Egress])",
		Long: `Adds an inbound (ingress) or outbound (egress) rule with ECS semantics. Rules are for hosts to enforce
(moat sg render); they never change who may connect to an instance: binding a group admits its members.`,
		Example: `  moat sg authorize --sg sg-app --protocol tcp --port 6379/6379 --cidr 10.0.0.0/8 --description redis
  moat sg authorize --sg sg-app --direction egress --protocol all --cidr 0.0.0.0/0 --policy drop --priority 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, suffix, err := rf.params()
			if err != nil {
				return err
			}
			p["SecurityGroupId"] = sg
			var out struct{ MoatSecurityGroupRuleIds []string }
			if err := o.callECS("AuthorizeSecurityGroup"+suffix, p, &out); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s: rule %s\n", sg, strings.Join(out.MoatSecurityGroupRuleIds, ","))
			})
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "security group ID")
	rf.add(cmd)
	required(cmd, "sg", "protocol", "cidr")
	return cmd
}

func newSGRevoke(o *Options) *cobra.Command {
	var sg string
	var ids []string
	var rf ruleFlags
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Remove rules by ID, or the rule equal to the flags (RevokeSecurityGroup[Egress])",
		Example: `  moat sg revoke --sg sg-app --rule-id sgr-abc
  moat sg revoke --sg sg-app --protocol tcp --port 6379/6379 --cidr 10.0.0.0/8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := map[string]string{}
			suffix := map[string]string{"ingress": "", "egress": "Egress"}[rf.direction]
			if rf.protocol != "" || rf.cidr != "" {
				var err error
				if p, suffix, err = rf.params(); err != nil {
					return err
				}
			} else if len(ids) == 0 {
				return usageError{fmt.Errorf("give --rule-id, or the rule's --protocol and --cidr (and --port …)")}
			}
			p["SecurityGroupId"] = sg
			for i, id := range ids {
				p[fmt.Sprintf("SecurityGroupRuleId.%d", i+1)] = id
			}
			var out struct{ MoatRevoked int }
			if err := o.callECS("RevokeSecurityGroup"+suffix, p, &out); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s: %d rule(s) removed\n", sg, out.MoatRevoked)
			})
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "security group ID")
	cmd.Flags().StringSliceVar(&ids, "rule-id", nil, "rule ID (repeatable)")
	rf.add(cmd)
	required(cmd, "sg")
	return cmd
}

type permissionInfo struct {
	SecurityGroupRuleId, Direction, IpProtocol, PortRange, SourceCidrIp, Ipv6SourceCidrIp string
	DestCidrIp, Ipv6DestCidrIp, Policy, Priority, NicType, Description, CreateTime        string
}

func newSGRules(o *Options) *cobra.Command {
	var sg, dir string
	cmd := &cobra.Command{
		Use: "rules", Short: "Show a group's rules in evaluation order (DescribeSecurityGroupAttribute)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				SecurityGroupId, SecurityGroupName string
				Permissions                        struct{ Permission []permissionInfo }
			}
			if err := o.callECS("DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": sg, "Direction": dir, "MaxResults": "1000"}, &out); err != nil {
				return err
			}
			ps := out.Permissions.Permission
			return o.emit(cmd.OutOrStdout(), ps, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "RULE\tDIRECTION\tPROTOCOL\tPORTS\tCIDR\tPOLICY\tPRIORITY\tNIC\tDESCRIPTION")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.SecurityGroupRuleId, p.Direction, p.IpProtocol, p.PortRange,
						p.SourceCidrIp+p.Ipv6SourceCidrIp+p.DestCidrIp+p.Ipv6DestCidrIp, p.Policy, p.Priority, p.NicType, p.Description)
				}
			})
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "security group ID")
	cmd.Flags().StringVar(&dir, "direction", "all", "ingress, egress or all")
	required(cmd, "sg")
	return cmd
}
