package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/server/repo"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newAuditCmd() *cobra.Command {
	var (
		since, until, repoName, userName string
		denied                           bool
		limit                            int
	)
	c := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: writes, refused requests, access changes",
		Long: `Show the audit log of the server that uses a data directory, newest first: every push,
upload and delete (with its outcome), every refused request (unauthorized: no or wrong
credentials; denied: not allowed; hidden: a read answered as if the repository did not
exist; throttled), and every change of users, tokens and roles. Each record has the time,
the user (and API token) or, for refused credentials, the user they claimed, the client
address, the action (the route, e.g. oci.manifest.put, or the command, e.g. token.create),
the repository or namespace, the version or tag, the digest, the outcome and how many
alike refusals it stands for. Passwords and tokens are never recorded.

Read-only: safe while the server runs (which writes its records about every quarter
second). Global admins read the same over HTTP: GET /api/_/audit with the same parameters.
Records older than serve --audit-retention (default 90d) are removed.` + exitCodesHelp,
		Example: `  chartroom audit --data-dir /var/lib/chartroom --since 24h
  chartroom audit --config /etc/chartroom.yaml --repo 'team/*' --output json
  chartroom audit --data-dir /var/lib/chartroom --denied --since 2025-01-31`,
		Args: cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		params := map[string]string{"since": since, "until": until, "repo": repoName, "user": userName}
		if denied {
			params["denied"] = "true"
		}
		if limit < 0 {
			return usageError{fmt.Errorf("--limit %d: expected a number of records above 0", limit)}
		}
		if limit > 0 {
			params["limit"] = strconv.Itoa(limit)
		}
		q, err := repo.ParseAuditQuery(func(k string) string { return params[k] }, time.Now())
		if err != nil {
			return usageError{fmt.Errorf("--%w", err)}
		}
		db, err := open()
		if err != nil {
			return err
		}
		recs, err := db.Audit(cmd.Context(), q)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			res := []any{}
			for _, r := range recs {
				res = append(res, repo.AuditJSON(r))
			}
			return writeJSONResult(out, res)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tUSER\tADDRESS\tACTION\tREPOSITORY\tVERSION\tDIGEST\tOUTCOME\tCOUNT\tDETAIL")
		for _, r := range recs {
			who := orDash(r.Actor)
			if r.TokenID != "" {
				who += " (" + r.TokenID + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.At.Format(time.RFC3339), termsafe.Text(who), termsafe.Text(orDash(r.Address)),
				r.Action, termsafe.Text(orDash(r.Repository)), termsafe.Text(orDash(r.Version)), shortDigest(r.Digest), r.Outcome, r.Count, termsafe.Text(r.Detail))
		}
		return tw.Flush()
	}, func(f *pflag.FlagSet) {
		f.StringVar(&since, "since", "", "only records from this time on: RFC 3339 (2025-01-31T12:00:00Z), a date, or a duration back from now (24h)")
		f.StringVar(&until, "until", "", "only records before this time (same forms as --since)")
		f.StringVar(&repoName, "repo", "", "only records of this repository or namespace, or of everything under a prefix (team/*)")
		f.StringVar(&userName, "user", "", "only records of this user")
		f.BoolVar(&denied, "denied", false, "only refused requests")
		f.IntVar(&limit, "limit", 0, "at most this many records (default 100)")
	})
	c.Flags().SortFlags = false
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortDigest shortens a digest for the table (sha256:0123456789ab).
func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return orDash(d)
}
