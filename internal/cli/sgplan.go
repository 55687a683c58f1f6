package cli

// moat sg export, plan, apply and render: security groups as a desired-state document and as rulesets.

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
