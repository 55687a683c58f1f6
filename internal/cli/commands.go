package cli

import "github.com/spf13/cobra"

// Commands returns the client commands, each with the shared flags (--endpoint, credentials, --output).
func Commands(o *Options) []*cobra.Command {
	cmds := []*cobra.Command{newWhitelist(o), newCheck(o), newInstance(o), newKey(o), newAudit(o)}
	cmds = append(cmds, newHost(o), newSG(o))     // host.go, sg.go
	cmds = append(cmds, newRefusals(o))           // refusals.go
	cmds = append(cmds, newAccount(o), newACL(o)) // acl.go
	for _, c := range cmds {
		o.AddFlags(c)
		usageArgs(c)
	}
	return cmds
}

// usageArgs makes positional-argument mistakes usage errors (exit code 2), like flag mistakes.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}
