package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newKey(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage API access keys and their policies"}
	cmd.AddCommand(newKeyCreate(o), newKeyList(o), newKeyDelete(o))
	return cmd
}

func newKeyCreate(o *Options) *cobra.Command {
	var actions, instances, desc string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an access key; its secret is printed once and never again",
		Example: `  moat key create --actions 'Describe*,CheckAccess' --instances '*' --description monitoring
  moat key create --actions ModifySecurityIps --instances r-abc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				AccessKeyId, AccessKeySecret string
				Actions, Instances           []string
			}
			if err := o.call("CreateAccessKey", map[string]string{"Actions": actions, "Instances": instances, "Description": desc}, &out); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "AccessKeyId\t%s\nAccessKeySecret\t%s\n", out.AccessKeyId, out.AccessKeySecret)
				fmt.Fprintln(w, "(store the secret now: moat will not show it again)")
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&actions, "actions", "", `comma-separated action patterns ("*", "Describe*", "ModifySecurityIps")`)
	f.StringVar(&instances, "instances", "", `comma-separated instance IDs, or "*"`)
	f.StringVar(&desc, "description", "", "what the key is for")
	required(cmd, "actions", "instances")
	return cmd
}

type keyInfo struct {
	AccessKeyId, Description string
	Actions, Instances       []string
	CreateTime               string
}

func newKeyList(o *Options) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List access keys (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				AccessKeys struct{ AccessKey []keyInfo }
			}
			if err := o.call("DescribeAccessKeys", nil, &out); err != nil {
				return err
			}
			keys := out.AccessKeys.AccessKey
			return o.emit(cmd.OutOrStdout(), keys, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID\tACTIONS\tINSTANCES\tDESCRIPTION")
				for _, k := range keys {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.AccessKeyId, strings.Join(k.Actions, ","), strings.Join(k.Instances, ","), k.Description)
				}
			})
		},
	}
}

func newKeyDelete(o *Options) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use: "delete", Short: "Delete an access key (the last administrator key cannot be deleted)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.call("DeleteAccessKey", map[string]string{"UserAccessKeyId": id}, nil); err != nil {
				return err
			}
			return o.emit(cmd.OutOrStdout(), map[string]string{"AccessKeyId": id, "Deleted": "true"},
				func(w *tabwriter.Writer) { fmt.Fprintf(w, "deleted %s\n", id) })
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "access key ID")
	required(cmd, "id")
	return cmd
}
