package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

type auditEntry struct {
	Seq      uint64          `json:"seq"`
	Time     string          `json:"time"`
	KeyID    string          `json:"key_id"`
	Source   string          `json:"source"`
	Gateway  string          `json:"gateway,omitempty"` // the gateway of a fleet that took the change
	Action   string          `json:"action"`
	Instance string          `json:"instance"`
	Result   string          `json:"result"`
	Error    string          `json:"error"`
	Before   json.RawMessage `json:"before,omitempty"`
	After    json.RawMessage `json:"after,omitempty"`
	// A failed-call record (--failed) counts repeats: Time is when it was last seen.
	FirstSeen string `json:"first_seen,omitempty"`
	Count     uint64 `json:"count,omitempty"`
}

func newAudit(o *Options) *cobra.Command {
	var instance, action, key, since, until, next string
	var limit int
	var failed bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log, newest first: who changed what, when, from where (before/after with -o json); --failed: failed and denied calls",
		Long: `Show the audit log, newest first.

Without --failed: the record of every change — who, from where, when, what, before and after (-o json) —
kept for the retention (moat serve --audit-retention-days, default 90), whatever other calls are made.
With --failed: failed and denied calls, one record per key, action, instance and result, counting repeats
(COUNT, FIRST SEEN, LAST SEEN); moat keeps a bounded number of them (--audit-failed-calls).

When more records match than --limit, the command prints on stderr the --next token that reads on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				AuditLogs struct{ AuditLog []auditEntry }
				NextToken string
			}
			params := map[string]string{"InstanceId": instance, "ActionName": action, "UserAccessKeyId": key,
				"StartTime": since, "EndTime": until, "NextToken": next, "PageSize": fmt.Sprint(limit)}
			if failed {
				params["LogType"] = "FailedCalls"
			}
			if err := o.call("DescribeAuditLogs", params, &out); err != nil {
				return err
			}
			list := out.AuditLogs.AuditLog
			fleet := slices.ContainsFunc(list, func(e auditEntry) bool { return e.Gateway != "" })
			err := o.emit(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				gw := ""
				if fleet { // records of a fleet name the gateway that took each change
					gw = "GATEWAY\t"
				}
				if failed {
					fmt.Fprintln(w, "LAST SEEN\tFIRST SEEN\tCOUNT\t"+gw+"KEY\tSOURCE\tACTION\tINSTANCE\tRESULT")
				} else {
					fmt.Fprintln(w, "SEQ\tTIME\t"+gw+"KEY\tSOURCE\tACTION\tINSTANCE\tRESULT")
				}
				for _, e := range list {
					res := e.Result
					if e.Error != "" {
						// A joined error spans lines; one row per entry keeps the table a table.
						res += ": " + strings.ReplaceAll(e.Error, "\n", "; ")
					}
					if failed {
						fmt.Fprintf(w, "%s\t%s\t%d\t", tableTime(e.Time), tableTime(e.FirstSeen), e.Count)
					} else {
						fmt.Fprintf(w, "%d\t%s\t", e.Seq, tableTime(e.Time))
					}
					if fleet {
						fmt.Fprintf(w, "%s\t", orDash(e.Gateway))
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.KeyID, orDash(e.Source), e.Action, orDash(e.Instance), res)
				}
			})
			if err == nil && out.NextToken != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more records match: add --next %s\n", out.NextToken)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&instance, "instance", "", "only this instance")
	f.StringVar(&action, "action", "", "only this action (any case)")
	f.StringVar(&key, "key", "", "only calls by this access key ID")
	f.StringVar(&since, "since", "", "only records at or after this time (RFC 3339, 2006-01-02T15:04:05Z)")
	f.StringVar(&until, "until", "", "only records before this time (RFC 3339)")
	f.StringVar(&next, "next", "", "the token a previous page printed: read the older records after it")
	f.BoolVar(&failed, "failed", false, "show failed and denied calls (counted per key, action, instance and result) instead of changes")
	f.IntVar(&limit, "limit", 50, "most records to show (1-1000)")
	return cmd
}

// tableTime prints an audit time to the second, in UTC, for the table (JSON keeps the full time).
func tableTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339)
}
