package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type refusedConnection struct {
	Address   string
	Reason    string
	Count     uint64
	FirstSeen string
	LastSeen  string
}

// newRefusals is DescribeRefusedConnections: who was refused, why and how often (API3), as the
// console's Activity page shows it.
func newRefusals(o *Options) *cobra.Command {
	var instance string
	cmd := &cobra.Command{
		Use:   "refusals",
		Short: "Show an instance's recent refused connections: address, reason, count (kept in memory since moat started)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				TotalRefused       uint64
				RefusedConnections struct{ RefusedConnection []refusedConnection }
				Timeline           struct {
					Start         string
					BucketSeconds int
					Counts        []uint64
				}
			}
			if err := o.call("DescribeRefusedConnections", map[string]string{"InstanceId": instance}, &out); err != nil {
				return err
			}
			list := out.RefusedConnections.RefusedConnection
			return o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ADDRESS\tREASON\tCOUNT\tLAST SEEN\tFIRST SEEN")
				for _, r := range list {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", r.Address, r.Reason, r.Count, r.LastSeen, r.FirstSeen)
				}
				var hour uint64
				for _, n := range out.Timeline.Counts {
					hour += n
				}
				fmt.Fprintf(w, "\n%d refused in the last hour, %d since moat started\n", hour, out.TotalRefused)
			})
		},
	}
	instanceFlag(cmd, &instance)
	cmd.MarkFlagRequired("instance")
	return cmd
}
