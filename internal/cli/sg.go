package cli

// moat sg: security groups, their members and rules, export, batch plan/apply, host rulesets.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
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

func newSGExport(o *Options) *cobra.Command {
	var ids []string
	var format string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print security groups and their rules as JSON (the form plan and apply read) or CSV (one rule a line)",
		Example: `  moat sg export --format json > desired.yaml    # edit, then: moat sg plan -f desired.yaml
  moat sg export --format csv --sg sg-app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "json" && format != "csv" {
				return usageError{fmt.Errorf("--format %q: want json or csv", format)}
			}
			var out model.Desired
			if err := o.callECS("ExportSecurityGroups", map[string]string{"SecurityGroupIds": strings.Join(ids, ",")}, &out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				for i := range out.SecurityGroups {
					g := &out.SecurityGroups[i]
					if g.Members == nil || *g.Members == nil {
						g.Members = &[]string{}
					}
					if g.Rules == nil || *g.Rules == nil {
						g.Rules = &[]model.DesiredRule{}
					}
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			cw := csv.NewWriter(w)
			cw.Write([]string{"security_group_id", "security_group_name", "rule_id", "direction", "protocol", "port_range",
				"cidr", "policy", "priority", "nic_type", "description", "created"})
			for _, g := range out.SecurityGroups {
				var name string
				if g.Name != nil {
					name = *g.Name
				}
				var rules []model.DesiredRule
				if g.Rules != nil {
					rules = *g.Rules
				}
				for _, r := range rules {
					cw.Write([]string{g.ID, name, r.ID, r.Direction, r.Protocol, r.PortRange, r.CIDR, r.Policy,
						fmt.Sprint(r.Priority), r.NicType, r.Description, r.Created})
				}
			}
			cw.Flush()
			return cw.Error()
		},
	}
	cmd.Flags().StringSliceVar(&ids, "sg", nil, "only these security groups (repeatable; default all)")
	cmd.Flags().StringVar(&format, "format", "json", "json or csv")
	return cmd
}

// planView is the change set PlanSecurityGroups and ApplySecurityGroups answer.
type planView struct {
	Groups []struct {
		ID           string
		Name         string
		Create       bool
		Renamed      []string
		Redescribed  []string
		Joined, Left []string
		AddedRules   []model.DesiredRule `json:"added_rules"`
		RemovedRules []model.DesiredRule `json:"removed_rules"`
		ChangedRules []struct {
			Before, After model.DesiredRule
		} `json:"changed_rules"`
		Instances []string
	} `json:"groups"`
	Create, Add, Change, Remove, Join, Leave int
}

// ruleText is a rule on one line, as plan and apply print it.
func ruleText(r model.DesiredRule) string {
	dir := "from"
	if r.Direction == "egress" {
		dir = "to"
	}
	s := fmt.Sprintf("%s %s %s %s %s %s priority %s %s", r.Direction, r.Protocol, r.PortRange, dir, r.CIDR, r.Policy, r.Priority, r.NicType)
	if r.Description != "" {
		s += fmt.Sprintf(" %q", r.Description)
	}
	return s
}

// printPlan writes a plan for people: one line per change, + added, - removed, ~ changed.
func printPlan(w io.Writer, p planView, applied bool) {
	if len(p.Groups) == 0 {
		fmt.Fprintln(w, "No changes: the security groups already match the desired state.")
		return
	}
	for _, g := range p.Groups {
		id := g.ID
		if id == "" {
			id = "(new)"
		}
		mark := "~"
		if g.Create {
			mark = "+"
		}
		fmt.Fprintf(w, "%s security group %s %q\n", mark, id, g.Name)
		if len(g.Renamed) == 2 {
			fmt.Fprintf(w, "    ~ name %q -> %q\n", g.Renamed[0], g.Renamed[1])
		}
		if len(g.Redescribed) == 2 {
			fmt.Fprintf(w, "    ~ description %q -> %q\n", g.Redescribed[0], g.Redescribed[1])
		}
		for _, h := range g.Joined {
			fmt.Fprintf(w, "    + member %s\n", h)
		}
		for _, h := range g.Left {
			fmt.Fprintf(w, "    - member %s\n", h)
		}
		for _, r := range g.AddedRules {
			id := r.ID
			if id == "" {
				id = "(new rule)"
			}
			fmt.Fprintf(w, "    + rule %s %s\n", id, ruleText(r))
		}
		for _, c := range g.ChangedRules {
			fmt.Fprintf(w, "    ~ rule %s %s\n", c.Before.ID, ruleText(c.Before))
			fmt.Fprintf(w, "      %s -> %s\n", strings.Repeat(" ", len(c.Before.ID)), ruleText(c.After))
		}
		for _, r := range g.RemovedRules {
			fmt.Fprintf(w, "    - rule %s %s\n", r.ID, ruleText(r))
		}
		if len(g.Instances) > 0 {
			fmt.Fprintf(w, "    ! who may connect changes on %s\n", strings.Join(g.Instances, ", "))
		}
	}
	verb := "Plan"
	if applied {
		verb = "Applied"
	}
	fmt.Fprintf(w, "%s: %d group(s) to create; rules: %d to add, %d to change, %d to remove; members: %d to join, %d to leave.\n",
		verb, p.Create, p.Add, p.Change, p.Remove, p.Join, p.Leave)
}

// readDesired reads a desired state (YAML or JSON) and returns it as JSON.
func readDesired(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return "", fmt.Errorf("%s: empty file", path)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return string(j), nil
}

func newSGPlan(o *Options, apply bool) *cobra.Command {
	var file string
	use, action, short := "plan", "PlanSecurityGroups", "Show what applying a desired state (YAML or JSON) would change, without changing anything"
	if apply {
		use, action, short = "apply", "ApplySecurityGroups", "Apply a desired state as one durable, audited change: all of it or none"
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		Long: short + `.

The file has the shape 'moat sg export --format json' prints: security_groups, each with id (or a unique
name), and optionally name, description, members (host IDs) and rules. Groups not in the file are left
alone; a group's members or rules, when given, replace its set (rules are matched by id, else by effect).`,
		Example: "  moat sg export > desired.yaml; $EDITOR desired.yaml\n  moat sg plan -f desired.yaml\n  moat sg apply -f desired.yaml",
		RunE: func(cmd *cobra.Command, _ []string) error {
			desired, err := readDesired(file)
			if err != nil {
				return usageError{err}
			}
			var out struct{ Plan planView }
			if err := o.callECS(action, map[string]string{"Desired": desired}, &out); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out.Plan, func(w *tabwriter.Writer) { printPlan(w, out.Plan, apply) })
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "desired state, YAML or JSON ('-': standard input)")
	required(cmd, "file")
	return cmd
}

func newSGRender(o *Options) *cobra.Command {
	var sg, format string
	cmd := &cobra.Command{
		Use:     "render",
		Short:   "Print a group's rules as a ruleset its hosts can load (nftables)",
		Example: `  moat sg render --sg sg-app --format nftables > sg-app.nft && sudo nft -f sg-app.nft`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "nftables" {
				return usageError{fmt.Errorf("--format %q: want nftables", format)}
			}
			var out struct{ Ruleset string }
			if err := o.callECS("RenderSecurityGroup", map[string]string{"SecurityGroupId": sg, "RulesetFormat": format}, &out); err != nil {
				return err
			}
			_, err := io.WriteString(cmd.OutOrStdout(), out.Ruleset)
			return err
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "security group ID")
	cmd.Flags().StringVar(&format, "format", "nftables", "nftables")
	required(cmd, "sg")
	return cmd
}
