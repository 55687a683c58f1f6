package cli

// moat instance: list, describe, create, delete, parameters and the security groups bound to an instance.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type instanceInfo struct {
	InstanceId      string
	InstanceName    string
	InstanceStatus  string
	EngineVersion   string
	ListenAddresses []string
	Backend         string
	Origin          string
	SecurityIPList  string `json:",omitempty"`
	// BackendEngine says what serves the data (absent when the moat answering does not serve it).
	BackendEngine *struct {
		Kind    string
		Server  string `json:",omitempty"`
		Version string `json:",omitempty"`
		PID     int    `json:",omitempty"`
	} `json:",omitempty"`
}

// engine renders what serves an instance: "managed redis-server 7.0.15 pid 4242", "in-process",
// "external"; "-" when unknown.
func (in instanceInfo) engine() string {
	e := in.BackendEngine
	switch {
	case e == nil:
		return "-"
	case e.Kind != "managed":
		return e.Kind
	case e.PID == 0:
		return fmt.Sprintf("managed %s %s (restarting)", e.Server, e.Version)
	}
	return fmt.Sprintf("managed %s %s pid %d", e.Server, e.Version, e.PID)
}

func newInstance(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "instance", Short: "List, create, delete and configure instances"}
	cmd.AddCommand(newInstanceList(o), newInstanceDescribe(o), newInstanceCreate(o), newInstanceDelete(o),
		newInstanceParams(o), newInstanceSet(o))
	cmd.AddCommand(newInstanceSecurityGroups(o), newInstanceSetSecurityGroups(o))
	return cmd
}

func instanceTable(list []instanceInfo) func(*tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tSTATUS\tLISTEN\tBACKEND\tENGINE\tSERVED BY")
		for _, in := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.InstanceId, in.InstanceName, in.InstanceStatus,
				strings.Join(in.ListenAddresses, ","), in.Backend, in.EngineVersion, in.engine())
		}
	}
}

func newInstanceList(o *Options) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List instances (DescribeInstances)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all []instanceInfo
			for page := 1; ; page++ {
				var out struct {
					Instances  struct{ KVStoreInstance []instanceInfo }
					TotalCount int
				}
				if err := o.call("DescribeInstances", map[string]string{"PageNumber": fmt.Sprint(page), "PageSize": "100"}, &out); err != nil {
					return err
				}
				all = append(all, out.Instances.KVStoreInstance...)
				if len(out.Instances.KVStoreInstance) == 0 || len(all) >= out.TotalCount {
					break
				}
			}
			return o.emit(cmd.OutOrStdout(), all, instanceTable(all))
		},
	}
}

func newInstanceDescribe(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "describe", Short: "Show one instance (DescribeInstanceAttribute)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Instances struct{ DBInstanceAttribute []instanceInfo }
			}
			if err := o.call("DescribeInstanceAttribute", map[string]string{"InstanceId": id}, &out); err != nil {
				return err
			}
			list := out.Instances.DBInstanceAttribute
			return o.emit(cmd.OutOrStdout(), list, instanceTable(list))
		},
	}
	instanceFlag(cmd, &id)
	required(cmd, "instance")
	return cmd
}

func newInstanceCreate(o *Options) *cobra.Command {
	var id, name, listen, backend, engine, typ, arch string
	var tlsListen string // network security (N3)
	var createParams []string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an instance; it serves at once and refuses every address until whitelisted (CreateInstance)",
		Example: `  moat instance create --name app --listen 0.0.0.0:6381 --backend redis://10.0.0.5:6379
  moat instance create --id r-cache1            # a free port on 127.0.0.1, a managed redis-server (else the in-process engine)
  moat instance create --id r-tls --tls-listen 0.0.0.0:6390 --param tls-cert-file=/etc/moat/tls.crt \
    --param tls-key-file=/etc/moat/tls.key --param tls-auth-clients=no   # TLS only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				InstanceId, InstanceName string
				ListenAddresses          []string
				TLSListenAddresses       []string `json:",omitempty"`
			}
			conf, err := paramsJSON(createParams)
			if err != nil {
				return err
			}
			err = o.call("CreateInstance", map[string]string{"InstanceId": id, "InstanceName": name, "Listen": listen,
				"Backend": backend, "EngineVersion": engine, "ArchitectureType": typ, "Architecture": arch,
				"TLSListen": tlsListen, "Config": conf}, &out)
			if err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "created %s listening on %s; every address is refused until whitelisted:\n", out.InstanceId, strings.Join(out.ListenAddresses, ","))
				if len(out.TLSListenAddresses) > 0 {
					fmt.Fprintf(w, "  (TLS on %s)\n", strings.Join(out.TLSListenAddresses, ","))
				}
				fmt.Fprintf(w, "  moat whitelist modify --instance %s --group <name> --ips <addresses>\n", out.InstanceId)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "instance ID (r- + lowercase letters and digits; default: generated)")
	f.StringVar(&name, "name", "", "display name (default: the ID)")
	f.StringVar(&listen, "listen", "", "comma-separated host:port addresses (default: a free port on 127.0.0.1)")
	f.StringVar(&backend, "backend", "", "auto (default: a managed redis-server if moat found one, else embedded), managed, embedded, or a redis://, rediss:// or unix:// URL")
	f.StringVar(&engine, "engine-version", "", "engine version reported (default 7.0)")
	f.StringVar(&typ, "type", "", "standard (default), cluster or rw_split")
	f.StringVar(&arch, "architecture", "", "classic (default) or cloud_native")
	f.StringVar(&tlsListen, "tls-listen", "", "comma-separated host:port addresses served with TLS (without --listen: TLS only)")
	f.StringArrayVar(&createParams, "param", nil, "parameter name=value, repeatable (e.g. tls-cert-file=…)")
	return cmd
}

// paramsJSON turns repeated --param name=value flags into the JSON object the API's Config takes; ""
// when there are none.
func paramsJSON(params []string) (string, error) {
	if len(params) == 0 {
		return "", nil
	}
	values := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return "", usageError{fmt.Errorf("--param %q: want name=value", p)}
		}
		values[k] = v
	}
	b, _ := json.Marshal(values)
	return string(b), nil
}

func newInstanceDelete(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "delete", Short: "Stop serving an instance and remove it (its data directory is kept)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.call("DeleteInstance", map[string]string{"InstanceId": id}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"InstanceId": id, "Deleted": "true"},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted %s\n", id) })
		},
	}
	instanceFlag(cmd, &id)
	required(cmd, "instance")
	return cmd
}

type parameter struct {
	ParameterName, ParameterValue, ParameterDescription, CheckingCode string
}

func newInstanceParams(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "params", Short: "Show an instance's parameters (DescribeParameters)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				RunningParameters struct{ Parameter []parameter }
			}
			if err := o.call("DescribeParameters", map[string]string{"DBInstanceId": id}, &out); err != nil {
				return err
			}
			ps := out.RunningParameters.Parameter
			return o.emit(cmd.OutOrStdout(), ps, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "PARAMETER\tVALUE\tACCEPTS")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%s\n", p.ParameterName, p.ParameterValue, p.CheckingCode)
				}
			})
		},
	}
	instanceFlag(cmd, &id)
	required(cmd, "instance")
	return cmd
}

func newInstanceSet(o *Options) *cobra.Command {
	var id string
	var params []string
	cmd := &cobra.Command{
		Use:     "set",
		Short:   "Set instance parameters, all or none (ModifyInstanceConfig)",
		Example: `  moat instance set --instance r-abc --param drop-on-revoke=yes --param timeout=300`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			values := map[string]string{}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--param %q: want name=value", p)}
				}
				values[k] = v
			}
			conf, _ := json.Marshal(values)
			if err := o.call("ModifyInstanceConfig", map[string]string{"InstanceId": id, "Config": string(conf)}, nil); err != nil {
				return err
			}
			names := make([]string, 0, len(values))
			for k := range values {
				names = append(names, k+"="+values[k])
			}
			sort.Strings(names)
			return o.emit(cmd.OutOrStdout(), map[string]any{"InstanceId": id, "Set": values},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s: set %s\n", id, strings.Join(names, " ")) })
		},
	}
	instanceFlag(cmd, &id)
	cmd.Flags().StringArrayVar(&params, "param", nil, "name=value (repeatable)")
	required(cmd, "instance", "param")
	return cmd
}

// newInstanceSecurityGroups shows the groups bound to an instance (DescribeSecurityGroupConfiguration).
func newInstanceSecurityGroups(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "security-groups", Short: "Show the security groups bound to an instance (DescribeSecurityGroupConfiguration)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := boundSecurityGroups(o, id)
			if err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "SECURITY GROUP\tNET TYPE")
				for _, r := range list {
					fmt.Fprintf(w, "%s\t%s\n", r.SecurityGroupId, r.NetType)
				}
			})
		},
	}
	instanceFlag(cmd, &id)
	required(cmd, "instance")
	return cmd
}

type sgRelation struct{ SecurityGroupId, RegionId, NetType string }

// boundSecurityGroups returns the security groups bound to the instance (DescribeSecurityGroupConfiguration).
func boundSecurityGroups(o *Options, instance string) ([]sgRelation, error) {
	var out struct {
		Items struct{ EcsSecurityGroupRelation []sgRelation }
	}
	err := o.call("DescribeSecurityGroupConfiguration", map[string]string{"InstanceId": instance}, &out)
	return out.Items.EcsSecurityGroupRelation, err
}

// newInstanceSetSecurityGroups replaces the groups bound to an instance (ModifySecurityGroupConfiguration).
func newInstanceSetSecurityGroups(o *Options) *cobra.Command {
	var id, sgs string
	cmd := &cobra.Command{
		Use:   "set-security-groups",
		Short: "Bind security groups to an instance, replacing the set (at most 10; '' unbinds all)",
		Long: `Every private and public IP of every host in the groups may connect from the moment this returns.
Refused for engine versions below 4.0 and for cloud-native cluster and read/write splitting instances.`,
		Example: `  moat instance set-security-groups --instance r-abc --sg sg-app,sg-ops
  moat instance set-security-groups --instance r-abc --sg ''`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := url.Values{"DBInstanceId": {id}, "SecurityGroupId": {sgs}}
			if err := o.callValues("ModifySecurityGroupConfiguration", "2015-01-01", v, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"InstanceId": id, "SecurityGroupId": sgs}, func(w *tabwriter.Writer) {
				if sgs == "" {
					fmt.Fprintf(w, "%s: no security groups bound\n", id)
				} else {
					fmt.Fprintf(w, "%s: security groups %s bound\n", id, sgs)
				}
			})
		},
	}
	instanceFlag(cmd, &id)
	cmd.Flags().StringVar(&sgs, "sg", "", "comma-separated security group IDs")
	required(cmd, "instance", "sg")
	return cmd
}
