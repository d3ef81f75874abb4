package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTokenKeysCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token-keys",
		Short: "List or rotate the keys that sign registry tokens",
		Long: `Manage the keys that sign registry tokens: the short-lived JWTs the token service
(/v2/token) and POST /api/oidc/token hand out. They are ECDSA P-256 keys (ES256) kept in the
database, so that every replica signs and verifies with the same ones; chartroom serve
creates the first at its first start. A rotation makes a new signing key; the old one stops
signing at once (running servers follow within a second) but still verifies the tokens it
signed until they expire (--token-ttl), and is removed by a later rotation 24 h on.
Works on the data directory, like chartroom user, also while the server runs.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("token-keys needs a subcommand: list or rotate (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newTokenKeysListCmd(), newTokenKeysRotateCmd())
	return c
}

// tokenKeyJSON is a key as token-keys list writes it with -o json (never the key itself).
type tokenKeyJSON struct {
	ID        string     `json:"id"`
	Algorithm string     `json:"algorithm"`
	Created   time.Time  `json:"created"`
	Retired   *time.Time `json:"retired,omitempty"`
	State     string     `json:"state"` // signing, retired
}

func newTokenKeysListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the token signing keys (never the keys themselves)",
		Long: `List the keys that sign registry tokens, newest first: id (the "kid" of the tokens it
signed), algorithm, when created and retired, and state (signing or retired). Read-only:
safe while the server runs.` + exitCodesHelp,
		Example: `  chartroom token-keys list --data-dir /var/lib/chartroom -o json`,
		Args:    cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		db, err := open()
		if err != nil {
			return err
		}
		keys, err := db.TokenKeys(cmd.Context())
		if err != nil {
			return err
		}
		res := []tokenKeyJSON{}
		for _, k := range keys {
			j := tokenKeyJSON{ID: k.ID, Algorithm: k.Algorithm, Created: k.Created, State: "signing"}
			if !k.Retired.IsZero() {
				r := k.Retired
				j.Retired, j.State = &r, "retired"
			}
			res = append(res, j)
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, res)
		}
		if len(res) == 0 {
			fmt.Fprintln(out, "no token signing keys yet: chartroom serve creates the first at its first start")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tALGORITHM\tCREATED\tRETIRED\tSTATE")
		for _, k := range res {
			retired := "-"
			if k.Retired != nil {
				retired = k.Retired.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, k.Created.Format(time.RFC3339), retired, k.State)
		}
		return tw.Flush()
	}, nil)
	return c
}

func newTokenKeysRotateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new token signing key and retire the current one",
		Long: `Make a new key that signs registry tokens from now on and retire the one that signed until
now: tokens it signed stay valid until they expire (--token-ttl of the server), so nobody
signed in is cut off. Keys retired more than 24 h ago are removed. Recorded in the audit
log. Running servers on the data directory follow within a second.` + exitCodesHelp,
		Example: `  chartroom token-keys rotate --data-dir /var/lib/chartroom`,
		Args:    cobra.NoArgs,
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, _ []string, open openDB, _ string) error {
		db, err := open()
		if err != nil {
			return err
		}
		id, err := cliManager(db).RotateTokenKey(cmd.Context())
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "new token signing key %s; the previous key verifies the tokens it signed until they expire\n", id)
		return nil
	}, nil)
	return c
}
