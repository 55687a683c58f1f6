package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type match struct{ Group, Entry, SecurityGroup, Host string }

// login is CheckAccess's verdict on logging in as --user.
type login struct {
	UserName                          string
	Exists, Enabled, SourceRestricted bool
	Sources                           []string
	Allowed                           bool
	Reason                            string
	Matches                           []struct{ Group, Entry string }
	LockedOut                         bool
	LockedUntil                       string `json:",omitempty"`
	Scripts                           string `json:",omitempty"`
}

func newCheck(o *Options) *cobra.Command {
	var instance, from, user, via string
	var overTLS bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Would a client from this address be admitted? (dry run, no connection)",
		Long: `Asks moat whether a client connecting from --from would be admitted to --instance, and why: which
group and entry matched, or that none did, or that 127.0.0.1 alone denies everything. With --user,
also whether that user may log in from the address: it exists and is on, and its source restriction
(moat acl sources) admits the address, by which entry or group, and whether the brute-force lockout
refuses its logins from there now (the password is not judged).
--tls asks about the instance's TLS listener, --via about a client behind the load balancer at that
address, whose PROXY header carries --from. The verdict is the gateway's own (the same function decides
real connections).
Exit code 0: allowed; 3: refused (the connection, or the user's login); 1: the question could not be
answered.`,
		Example: `  moat check --instance r-abc --from 10.0.1.7
  moat check --instance r-abc --from 10.0.1.7 --user alice
  moat check --instance r-abc --from 203.0.113.9 --via 10.0.5.4 --tls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				InstanceId, SourceIp string
				Allowed              bool
				Reason               string
				Matches              []match
				User                 *login `json:",omitempty"`
			}
			params := map[string]string{"InstanceId": instance, "SourceIp": from, "UserName": user, "ProxyIp": via}
			if overTLS {
				params["Transport"] = "tls"
			}
			if err := o.call("CheckAccess", params, &out); err != nil {
				return err
			}
			err := o.emit(cmd.OutOrStdout(), out, func(w *tabwriter.Writer) {
				verdict := "REFUSED"
				if out.Allowed {
					verdict = "ALLOWED"
				}
				fmt.Fprintf(w, "%s  %s\n", verdict, strings.TrimPrefix(out.Reason, "allowed "))
				for _, m := range out.Matches {
					if m.SecurityGroup != "" {
						fmt.Fprintf(w, "  security group %s\thost %s\t%s\n", m.SecurityGroup, m.Host, m.Entry)
					} else {
						fmt.Fprintf(w, "  group %s\tentry %s\n", m.Group, m.Entry)
					}
				}
				if u := out.User; u != nil {
					verdict := "LOGIN REFUSED"
					if u.Allowed {
						verdict = "LOGIN ALLOWED"
					}
					fmt.Fprintf(w, "%s  %s\n", verdict, u.Reason)
					if u.Scripts != "" {
						fmt.Fprintf(w, "  %s\n", u.Scripts)
					}
					for _, m := range u.Matches {
						if m.Group != "" {
							fmt.Fprintf(w, "  group %s\tentry %s\n", m.Group, m.Entry)
						} else {
							fmt.Fprintf(w, "  source\tentry %s\n", m.Entry)
						}
					}
				}
			})
			if err == nil && (!out.Allowed || (out.User != nil && !out.User.Allowed)) {
				return refusedError{errors.New("refused")}
			}
			return err
		},
	}
	instanceFlag(cmd, &instance)
	cmd.Flags().StringVar(&from, "from", "", "client IP address")
	cmd.Flags().StringVar(&user, "user", "", "ACL user: may it log in from --from?")
	cmd.Flags().StringVar(&via, "via", "", "load balancer the client connects through (PROXY protocol)")
	cmd.Flags().BoolVar(&overTLS, "tls", false, "connect to the TLS listener")
	required(cmd, "instance", "from")
	return cmd
}
