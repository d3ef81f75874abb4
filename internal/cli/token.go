package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// defaultTokenExpiry is how long a token lives without --expires.
const defaultTokenExpiry = "90d"

func newTokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Create, list or revoke API tokens",
		Long: `Manage API tokens: secrets a user signs in with instead of its password, for CI and
scripts, each limited to what its scopes allow. A token is used as the password of HTTP Basic
credentials, with its user's name: helm registry login HOST --username ci --password-stdin,
helm repo add --username ci --password …, oras, crane and cosign login alike. It is shown
once, when created: only its hash is stored.` + accessHelp,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("token needs a subcommand: create, list or revoke (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return c
}

func newTokenCreateCmd() *cobra.Command {
	var (
		userName, expires, description string
		scopes                         []string
	)
	c := &cobra.Command{
		Use:   "create --user NAME [--scope NAMESPACE:ACTIONS]...",
		Short: "Create an API token and print it once",
		Long: `Create an API token of a user and print it, once. The token may do what its user may do
(chartroom grant), and what is granted to the token itself, limited by its scopes: each
--scope is NAMESPACE:ACTIONS, NAMESPACE a namespace (team/charts), a namespace and all below
it (team/*), * or / (the root namespace), ACTIONS a comma-separated list of pull, push,
delete, admin (every scope also allows pull). Without --scope the token is not limited
beyond its user's roles. It expires after --expires (default ` + defaultTokenExpiry + `; never for a
token that does not expire).` + accessHelp + exitCodesHelp,
		Example: `  chartroom token create --user ci --scope team/charts:push --expires 90d --data-dir /var/lib/chartroom
  chartroom token create --user ci --scope 'team/*:pull' --description 'deploy pipeline' --config /etc/chartroom.yaml -o json`,
		Args: cobra.NoArgs,
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		if userName == "" {
			return usageError{fmt.Errorf("--user is required: the user the token signs in as (see %s --help)", cmd.CommandPath())}
		}
		req := auth.NewTokenRequest{User: userName, Description: description}
		for _, s := range scopes {
			sc, err := auth.ParseScope(s)
			if err != nil {
				return usageError{fmt.Errorf("--scope: %w", err)}
			}
			req.Scopes = append(req.Scopes, sc)
		}
		if expires != "never" {
			d, err := parseDays(expires)
			if err != nil || d <= 0 {
				return usageError{fmt.Errorf("--expires %q: expected a duration above 0, such as 90d or 12h, or never", expires)}
			}
			req.Expires = time.Now().Add(d).UTC().Truncate(time.Second)
		}
		db, err := open()
		if err != nil {
			return err
		}
		id, token, err := cliManager(db).CreateToken(cmd.Context(), req)
		if err != nil {
			return err
		}
		res := tokenJSON{ID: id, User: userName, Scopes: scopeStrings(req.Scopes), Description: description, Token: token, State: "active"}
		if !req.Expires.IsZero() {
			res.Expires = &req.Expires
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, res)
		}
		fmt.Fprintf(out, "created API token %s of user %s", id, userName)
		if len(res.Scopes) > 0 {
			fmt.Fprintf(out, ", scopes %s", strings.Join(res.Scopes, " "))
		}
		if res.Expires != nil {
			fmt.Fprintf(out, ", expires %s", res.Expires.Format(time.RFC3339))
		} else {
			fmt.Fprint(out, ", never expires")
		}
		fmt.Fprintf(out, "\ntoken: %s\n(shown only now; sign in with user name %s and this token as the password)\n", token, userName)
		return nil
	}, func(f *pflag.FlagSet) {
		f.StringVar(&userName, "user", "", "the user the token signs in as (required)")
		f.StringArrayVar(&scopes, "scope", nil, "limit the token to NAMESPACE:ACTIONS (e.g. team/charts:push, 'team/*:pull'); repeatable")
		f.StringVar(&expires, "expires", defaultTokenExpiry, "how long the token works: a duration (90d, 12h) or never")
		f.StringVar(&description, "description", "", "what the token is for, shown by token list")
	})
	c.Flags().SortFlags = false
	return c
}

// tokenJSON is a token as token create and token list write it with -o json.
type tokenJSON struct {
	ID          string      `json:"id"`
	User        string      `json:"user"`
	Scopes      []string    `json:"scopes"`
	Roles       []grantJSON `json:"roles,omitempty"`
	Description string      `json:"description,omitempty"`
	Created     *time.Time  `json:"created,omitempty"`
	Expires     *time.Time  `json:"expires"`
	LastUsed    *time.Time  `json:"lastUsed,omitempty"`
	Revoked     *time.Time  `json:"revoked,omitempty"`
	State       string      `json:"state"` // active, expired, revoked
	Token       string      `json:"token,omitempty"`
}

func scopeStrings(scopes []auth.Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = s.String()
	}
	return out
}

// tokenState says whether a token works now.
func tokenState(t meta.Token, now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return "revoked"
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return "expired"
	}
	return "active"
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newTokenListCmd() *cobra.Command {
	var (
		userName string
		all      bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Long: `List the API tokens of the server that uses a data directory, newest first: id, user,
scopes, roles granted to the token itself, expiry, last use (recorded by the server about
once a minute) and state. Revoked and expired tokens are listed with --all. Read-only: safe
while the server runs.` + exitCodesHelp,
		Example: `  chartroom token list --data-dir /var/lib/chartroom
  chartroom token list --user ci --all --config /etc/chartroom.yaml -o json`,
		Args: cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		db, err := open()
		if err != nil {
			return err
		}
		tokens, err := db.ListTokens(cmd.Context(), userName)
		if err != nil {
			return err
		}
		grants, err := db.ListGrants(cmd.Context())
		if err != nil {
			return err
		}
		roles := map[string][]grantJSON{}
		for _, g := range grants {
			if g.TokenID != "" {
				roles[g.TokenID] = append(roles[g.TokenID], grantJSON{Namespace: auth.PatternString(g.Namespace), Role: g.Role})
			}
		}
		now := time.Now()
		res := []tokenJSON{}
		for _, t := range tokens {
			st := tokenState(t, now)
			if st != "active" && !all {
				continue
			}
			res = append(res, tokenJSON{ID: t.ID, User: t.User, Scopes: append([]string{}, t.Scopes...), Roles: roles[t.ID],
				Description: t.Description, Created: timePtr(t.Created), Expires: timePtr(t.Expires),
				LastUsed: timePtr(t.LastUsed), Revoked: timePtr(t.Revoked), State: st})
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, res)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tSCOPES\tROLES\tEXPIRES\tLAST USED\tSTATE\tDESCRIPTION")
		for _, t := range res {
			scopes := strings.Join(t.Scopes, ",")
			if scopes == "" {
				scopes = "(its user's)"
			}
			roles := "none"
			if len(t.Roles) > 0 {
				roles = rolesText(t.Roles)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, termsafe.Text(t.User), scopes, roles,
				timeText(t.Expires, "never"), timeText(t.LastUsed, "never"), t.State, termsafe.Text(t.Description))
		}
		return tw.Flush()
	}, func(f *pflag.FlagSet) {
		f.StringVar(&userName, "user", "", "only this user's tokens")
		f.BoolVar(&all, "all", false, "also revoked and expired tokens")
	})
	c.Flags().SortFlags = false
	return c
}

func timeText(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func newTokenRevokeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Long: `Revoke the API token with id ID (tok-…, as token list shows): it stops working (a running
server: within a second), and stays listed (token list --all).` + accessHelp + exitCodesHelp,
		Example: `  chartroom token revoke tok-k3m9x2q7ab --data-dir /var/lib/chartroom`,
		Args:    oneArg("the token id (tok-…)"),
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		if strings.HasPrefix(args[0], auth.TokenPrefix) {
			return usageError{fmt.Errorf("that is a token, not its id: give the id (tok-…, the part after %s up to the next _; chartroom token list shows them)", auth.TokenPrefix)}
		}
		if !auth.IsTokenID(args[0]) {
			return usageError{fmt.Errorf("%q is not a token id: ids look like tok-k3m9x2q7ab (chartroom token list shows them; never pass the token itself)", termsafe.Text(args[0]))}
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).RevokeToken(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "revoked API token %s\n", args[0])
		return nil
	}, nil)
	return c
}

// parseDays reads a duration, also in days (90d).
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}
