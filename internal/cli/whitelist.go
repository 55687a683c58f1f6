package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type ipGroup struct {
	SecurityIpGroupName      string
	SecurityIpGroupAttribute string
	SecurityIpList           string
}

func newWhitelist(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whitelist",
		Short: "Describe and change an instance's IP whitelist groups",
		Long: `Whitelist groups decide which client addresses an instance admits (everything else gets
"-ERR illegal address"). Entries are IPv4/IPv6 addresses or CIDR blocks, comma-separated without spaces;
at most 1,000 per group. Group names: 2-32 characters of a-z, 0-9 and _, starting with a letter and
ending with a letter or digit. Changes apply to the next connection.`,
	}
	cmd.AddCommand(newWhitelistDescribe(o), newWhitelistModify(o), newWhitelistDeleteGroup(o))
	return cmd
}

func newWhitelistDescribe(o *Options) *cobra.Command {
	var instance string
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "List every whitelist group of an instance (DescribeSecurityIps)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				SecurityIpGroups struct{ SecurityIpGroup []ipGroup }
			}
			if err := o.call("DescribeSecurityIps", map[string]string{"InstanceId": instance}, &out); err != nil {
				return err
			}
			groups := out.SecurityIpGroups.SecurityIpGroup
			state := loopbackState(o, instance, groups)
			return o.emit(cmd.OutOrStdout(), groups, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "GROUP\tATTRIBUTE\tENTRIES")
				for _, g := range groups {
					list := g.SecurityIpList
					if state == loopbackVoid {
						list = markVoid(list)
					}
					fmt.Fprintf(w, "%s\t%s\t%s\n", g.SecurityIpGroupName, orDash(g.SecurityIpGroupAttribute), list)
				}
				switch state {
				case loopbackVoid:
					fmt.Fprintln(w, "\n"+loopback+" is void: other entries or security groups are in effect (alone it admits nobody).")
				case loopbackAlone:
					fmt.Fprintln(w, "\nEvery address is refused: "+loopback+" is the only entry and no security group is bound. Add a client address to let it in.")
				}
			})
		},
	}
	instanceFlag(cmd, &instance)
	required(cmd, "instance")
	return cmd
}

func newWhitelistModify(o *Options) *cobra.Command {
	var instance, group, ips, mode, attribute string
	cmd := &cobra.Command{
		Use:   "modify",
		Short: "Replace, add or remove a group's entries (ModifySecurityIps)",
		Long: `Modes: cover replaces the group's entries (creating the group), append adds entries (creating the
group), delete removes entries (removing a group that becomes empty; "default" falls back to 127.0.0.1).
Setting 0.0.0.0/0 or ::/0 opens the instance to every address: moat does it and warns.`,
		Example: `  moat whitelist modify --instance r-abc --group dev --ips 10.0.1.0/24,10.0.2.5 --mode append`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := apiMode(mode)
			if err != nil {
				return err
			}
			var out struct{ MoatWarnings []string }
			err = o.call("ModifySecurityIps", map[string]string{"InstanceId": instance, "SecurityIpGroupName": group,
				"SecurityIps": ips, "ModifyMode": m, "SecurityIpGroupAttribute": attribute}, &out)
			if err != nil {
				return err
			}
			for _, w := range out.MoatWarnings {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
			}
			return o.emit(cmd.OutOrStdout(), map[string]any{"InstanceId": instance, "Group": group, "Mode": m, "Warnings": out.MoatWarnings},
				func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "group %q of %s: %s done\n", group, instance, strings.ToLower(m))
				})
		},
	}
	f := cmd.Flags()
	f.StringVar(&instance, "instance", "", "instance ID (r-…)")
	f.StringVar(&group, "group", "default", "group name")
	f.StringVar(&ips, "ips", "", "comma-separated addresses or CIDR blocks, no spaces")
	f.StringVar(&mode, "mode", "cover", "cover, append or delete")
	f.StringVar(&attribute, "attribute", "", `"hidden" to create a hidden (system) group`)
	required(cmd, "instance", "ips")
	return cmd
}

func apiMode(m string) (string, error) {
	switch strings.ToLower(m) {
	case "", "cover":
		return "Cover", nil
	case "append":
		return "Append", nil
	case "delete":
		return "Delete", nil
	}
	return "", usageError{fmt.Errorf("--mode %q: want cover, append or delete", m)}
}

func newWhitelistDeleteGroup(o *Options) *cobra.Command {
	var instance, group string
	cmd := &cobra.Command{
		Use:   "delete-group",
		Short: "Delete a whitelist group (not default, not a system group)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.call("DeleteSecurityIpGroup", map[string]string{"InstanceId": instance, "SecurityIpGroupName": group}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"InstanceId": instance, "Group": group, "Deleted": "true"},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "group %q of %s deleted\n", group, instance) })
		},
	}
	instanceFlag(cmd, &instance)
	cmd.Flags().StringVar(&group, "group", "", "group name")
	required(cmd, "instance", "group")
	return cmd
}

// loopback is the placeholder entry: it admits nobody, alone (every address is refused) or beside
// other entries or bound security groups (then it is void).
const loopback = "127.0.0.1"

const (
	loopbackUnlisted = iota // not listed, or its state is not known
	loopbackAlone           // the only entry, and no security group bound: every address is refused
	loopbackVoid            // listed beside other entries or bound security groups
)

// loopbackState tells how the placeholder 127.0.0.1 reads in the instance's groups, as the console
// marks it. Only when it is the only entry does it ask which security groups are bound; if that
// cannot be asked, it says nothing.
func loopbackState(o *Options, instance string, groups []ipGroup) int {
	listed, others := false, false
	for _, g := range groups {
		for _, e := range strings.Split(g.SecurityIpList, ",") {
			switch e {
			case "":
			case loopback:
				listed = true
			default:
				others = true
			}
		}
	}
	switch {
	case !listed:
		return loopbackUnlisted
	case others:
		return loopbackVoid
	}
	bound, err := boundSecurityGroups(o, instance)
	switch {
	case err != nil:
		return loopbackUnlisted
	case len(bound) > 0:
		return loopbackVoid
	}
	return loopbackAlone
}

// markVoid marks the entry 127.0.0.1 of a SecurityIpList void.
func markVoid(list string) string {
	entries := strings.Split(list, ",")
	for i, e := range entries {
		if e == loopback {
			entries[i] = loopback + " (void)"
		}
	}
	return strings.Join(entries, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
