package cli

import (
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// hostInfo is a host as ECS DescribeInstances shows it.
type hostInfo struct {
	InstanceId    string
	InstanceName  string
	VpcAttributes struct {
		VpcId            string
		PrivateIpAddress struct{ IpAddress []string }
	}
	PublicIpAddress  struct{ IpAddress []string }
	SecurityGroupIds struct{ SecurityGroupId []string }
}

func newHost(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "Register, list, update and remove hosts (ECS and elastic container instances)"}
	cmd.AddCommand(newHostAdd(o), newHostList(o), newHostUpdate(o), newHostDelete(o))
	return cmd
}

func hostTable(list []hostInfo) func(*tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tPRIVATE IPS\tPUBLIC IP\tVPC\tSECURITY GROUPS")
		for _, h := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", h.InstanceId, h.InstanceName,
				strings.Join(h.VpcAttributes.PrivateIpAddress.IpAddress, ","), dash(strings.Join(h.PublicIpAddress.IpAddress, ",")),
				dash(h.VpcAttributes.VpcId), dash(strings.Join(h.SecurityGroupIds.SecurityGroupId, ",")))
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newHostAdd(o *Options) *cobra.Command {
	var id, name, vpc, public string
	var private []string
	cmd := &cobra.Command{
		Use:     "add",
		Short:   "Register a host with its private and public IPs (CreateHost)",
		Example: `  moat host add --name web-1 --private-ip 10.0.1.5 --public-ip 203.0.113.4`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct{ InstanceId string }
			err := o.callECS("CreateHost", map[string]string{"InstanceId": id, "InstanceName": name,
				"PrivateIpAddress": strings.Join(private, ","), "PublicIpAddress": public, "VpcId": vpc}, &out)
			if err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "added host %s; let it in through a security group:\n", out.InstanceId)
				fmt.Fprintf(w, "  moat sg join --sg <sg-id> --host %s\n", out.InstanceId)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", `host ID: "i-…" (ECS instance) or "eci-…" (elastic container instance); default generated`)
	f.StringVar(&name, "name", "", "display name")
	f.StringSliceVar(&private, "private-ip", nil, "private IP address (repeatable or comma-separated; at least one)")
	f.StringVar(&public, "public-ip", "", "public IP address")
	f.StringVar(&vpc, "vpc", "", "VPC ID (vpc-…)")
	required(cmd, "private-ip")
	return cmd
}

func newHostList(o *Options) *cobra.Command {
	var sg string
	cmd := &cobra.Command{
		Use: "list", Short: "List hosts (ECS DescribeInstances)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []hostInfo
			for page := 1; ; page++ {
				var out struct {
					Instances  struct{ Instance []hostInfo }
					TotalCount int
				}
				if err := o.callECS("DescribeInstances", map[string]string{"SecurityGroupId": sg, "PageNumber": fmt.Sprint(page), "PageSize": "100"}, &out); err != nil {
					return err
				}
				all = append(all, out.Instances.Instance...)
				if len(out.Instances.Instance) == 0 || len(all) >= out.TotalCount {
					break
				}
			}
			return o.emit(cmd.OutOrStdout(), all, hostTable(all))
		},
	}
	cmd.Flags().StringVar(&sg, "sg", "", "only the members of this security group")
	return cmd
}

func newHostUpdate(o *Options) *cobra.Command {
	var id, name, vpc, public string
	var private []string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Change a host's name or addresses; instances its groups are bound to follow at once (ModifyHost)",
		Example: `  moat host update --host i-web1 --private-ip 10.0.1.6,10.0.1.7
  moat host update --host i-web1 --public-ip ''      # remove the public IP`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := url.Values{"InstanceId": {id}}
			f := cmd.Flags()
			for flag, param := range map[string]string{"name": "InstanceName", "vpc": "VpcId", "public-ip": "PublicIpAddress"} {
				if f.Changed(flag) {
					val, _ := f.GetString(flag)
					v.Set(param, val)
				}
			}
			if f.Changed("private-ip") {
				v.Set("PrivateIpAddress", strings.Join(private, ","))
			}
			if len(v) == 1 {
				return usageError{fmt.Errorf("nothing to change: give --name, --private-ip, --public-ip or --vpc")}
			}
			var out struct{ Instance hostInfo }
			if err := o.callValues("ModifyHost", VersionECS, v, &out); err != nil {
				return err
			}
			list := []hostInfo{out.Instance}
			return o.emit(cmd.OutOrStdout(), out.Instance, hostTable(list))
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "host", "", "host ID")
	f.StringVar(&name, "name", "", "display name")
	f.StringSliceVar(&private, "private-ip", nil, "private IP addresses (replace the list)")
	f.StringVar(&public, "public-ip", "", "public IP address ('' removes it)")
	f.StringVar(&vpc, "vpc", "", "VPC ID")
	required(cmd, "host")
	return cmd
}

func newHostDelete(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "delete", Short: "Remove a host and its memberships (DeleteHost)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.callECS("DeleteHost", map[string]string{"InstanceId": id}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"InstanceId": id, "Deleted": "true"},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted host %s\n", id) })
		},
	}
	cmd.Flags().StringVar(&id, "host", "", "host ID")
	required(cmd, "host")
	return cmd
}
