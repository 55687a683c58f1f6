// Command moat is the access layer for Redis-compatible databases: it stands in front of a Redis, a
// Valkey or its own embedded engine and enforces a managed-cloud access model — IP whitelist groups,
// security groups, passwords and ACL users — on every connection and command.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	err := newRoot().Execute()
	code := cli.ExitCode(err)
	if err != nil && code != cli.ExitRefused {
		fmt.Fprintln(os.Stderr, "moat:", err)
	}
	os.Exit(code)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "moat",
		Short: "Access layer for Redis-compatible databases",
		Long: `moat stands in front of a Redis-compatible server (or its own embedded, persistent engine) and
enforces the access model of a managed cloud Redis on every connection: every client address is refused
until an operator adds it to a named whitelist group.

Start with "moat serve": it serves one instance on 127.0.0.1:6380 backed by the embedded engine, with
its state and data under ./moat-data, and prints how to let the first client in. The other commands
are clients of a running moat's API (signed with an access key; the administrator key is in
<data-dir>/admin-key.json). Exit codes: 0 ok, 1 error, 2 usage, 3 "check" says refused.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newVersion())
	root.AddCommand(cli.Commands(&cli.Options{})...)
	root.AddCommand(cli.NewStore())
	// Flag and argument mistakes exit with the usage code.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.IsUsage(err) })
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print moat's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "moat", version)
		},
	}
}
