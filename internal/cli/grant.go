package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/server/auth"
)

// namespacePatternHelp says what a NAMESPACE of grant and revoke may be.
const namespacePatternHelp = `NAMESPACE is a namespace (team/charts: its charts team/charts/<chart>, not those of
team/charts/sub), a namespace and every one below it (team/*: team/<chart>,
team/charts/<chart>, …), * (every namespace) or / (the root namespace).`

func newGrantCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "grant USER|TOKEN NAMESPACE ROLE",
		Short: "Give a user or an API token a role on namespaces",
		Long: `Give user USER, or API token TOKEN (its id, tok-…), role ROLE on NAMESPACE, replacing the
role it had on exactly that NAMESPACE. A user (or token) may do what the highest of its roles
on a namespace allows:

  reader       pull: manifests, blobs, tags, index.yaml, archives, listings
  publisher    and push: new chart versions, manifests, blobs, provenance files
  maintainer   and delete: chart versions, manifests, tags, blobs
  admin        and manage roles (on *: everything, including the audit log API)

` + namespacePatternHelp + `

A token may also do what its user may, limited by the token's scopes.` + accessHelp + exitCodesHelp,
		Example: `  chartroom grant ci team/charts publisher --data-dir /var/lib/chartroom
  chartroom grant alice 'team/*' maintainer --config /etc/chartroom.yaml
  chartroom grant tok-k3m9x2q7ab team/charts reader --data-dir /var/lib/chartroom
  chartroom grant bob '*' admin --data-dir /var/lib/chartroom`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 3 {
				return usageError{fmt.Errorf("grant takes three arguments, USER|TOKEN NAMESPACE ROLE; got %d (see %s --help)", len(args), c.CommandPath())}
			}
			return nil
		},
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		if err := checkSubject(args[0]); err != nil {
			return err
		}
		pattern, err := auth.ParseNamespacePattern(args[1])
		if err != nil {
			return usageError{err}
		}
		role, err := auth.ParseRole(args[2])
		if err != nil {
			return usageError{err}
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).Grant(cmd.Context(), args[0], pattern, role); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s has role %s on %s\n", subjectText(args[0]), role, auth.PatternString(pattern))
		return nil
	}, nil)
	return c
}

func newRevokeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "revoke USER|TOKEN NAMESPACE",
		Short: "Remove the role a user or an API token has on namespaces",
		Long: `Remove the role user USER, or API token TOKEN (its id, tok-…), has on NAMESPACE, written
as it was granted (chartroom user list and token list show the roles). Roles on other
namespaces stay. To stop a token from working at all, revoke the token itself: chartroom
token revoke.

` + namespacePatternHelp + accessHelp + exitCodesHelp,
		Example: `  chartroom revoke ci team/charts --data-dir /var/lib/chartroom
  chartroom revoke alice 'team/*' --config /etc/chartroom.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("revoke takes two arguments, USER|TOKEN NAMESPACE; got %d (see %s --help)", len(args), c.CommandPath())}
			}
			return nil
		},
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		if err := checkSubject(args[0]); err != nil {
			return err
		}
		pattern, err := auth.ParseNamespacePattern(args[1])
		if err != nil {
			return usageError{err}
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).Revoke(cmd.Context(), args[0], pattern); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s has no role on %s any more\n", subjectText(args[0]), auth.PatternString(pattern))
		return nil
	}, nil)
	return c
}

// subjectText names a grant's subject.
func subjectText(s string) string {
	if auth.IsTokenID(s) {
		return "API token " + s
	}
	return "user " + s
}

// checkSubject refuses an API token given where its id belongs (without repeating it).
func checkSubject(s string) error {
	if strings.HasPrefix(s, auth.TokenPrefix) {
		return usageError{fmt.Errorf("that is an API token, not its id: give the id (tok-…; chartroom token list shows them)")}
	}
	return nil
}
