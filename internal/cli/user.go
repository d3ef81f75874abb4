package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server/auth"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// accessHelp is what the access commands share in their help.
const accessHelp = `

It works directly on the database of the data directory chartroom serve uses (the same
--data-dir and --config), also while the server runs: the server applies the change within
a second. Every change is recorded in the audit log (chartroom audit).`

func newUserCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "user",
		Short: "Add, list, change the password of, or delete the users who sign in to a server",
		Long: `Manage the users of the server that uses a data directory. A user signs in with its password
or with an API token (chartroom token) and may do what its roles allow (chartroom grant): a
new user may do nothing until it is granted a role.` + accessHelp,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("user needs a subcommand: add, list, passwd or delete (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newUserAddCmd(), newUserListCmd(), newUserPasswdCmd(), newUserDeleteCmd())
	return c
}

// osUser names who runs the command, for the audit log.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

// passwordFlags read a new password from standard input, or make one.
type passwordFlags struct {
	stdin bool
}

func (p *passwordFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&p.stdin, "password-stdin", false, "read the password from standard input (its first line); without it a random password is made and printed once")
}

// read returns the password and whether it was made here (to be shown).
func (p *passwordFlags) read(in io.Reader) (string, bool, error) {
	if !p.stdin {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", false, err
		}
		return base64.RawURLEncoding.EncodeToString(b[:]), true, nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("--password-stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", false, usageError{errors.New("--password-stdin: standard input holds no password (echo \"$PASSWORD\" | chartroom user add …)")}
	}
	return pw, false, nil
}

func newUserAddCmd() *cobra.Command {
	var (
		admin bool
		pw    passwordFlags
	)
	c := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user",
		Long: `Add user NAME (1 to 64 letters, digits, . _ @ -) with a password: from standard input with
--password-stdin, or made at random and printed once. The password has at least 8
characters. A new user may do nothing until it is granted a role (chartroom grant), unless
--admin makes it a global admin (role admin on *).` + accessHelp + exitCodesHelp,
		Example: `  echo "$PASSWORD" | chartroom user add alice --data-dir /var/lib/chartroom --password-stdin
  chartroom user add ci --config /etc/chartroom.yaml          # prints a random password once
  chartroom user add root2 --data-dir /var/lib/chartroom --admin`,
		Args: oneArg("the user name"),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		if err := auth.ValidateUserName(args[0]); err != nil {
			return usageError{err}
		}
		password, made, err := pw.read(cmd.InOrStdin())
		if err != nil {
			return err
		}
		if err := auth.ValidatePassword(password); err != nil {
			return usageError{err}
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).AddUser(cmd.Context(), args[0], password, admin); err != nil {
			return err
		}
		res := struct {
			User     string `json:"user"`
			Admin    bool   `json:"admin"`
			Password string `json:"password,omitempty"`
		}{User: args[0], Admin: admin}
		if made {
			res.Password = password
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, res)
		}
		fmt.Fprintf(out, "added user %s", args[0])
		if admin {
			fmt.Fprint(out, ", a global admin (role admin on *)")
		} else {
			fmt.Fprintf(out, "; it may do nothing until granted a role: chartroom grant %s NAMESPACE ROLE", args[0])
		}
		fmt.Fprintln(out)
		if made {
			fmt.Fprintf(out, "password: %s\n(shown only now)\n", password)
		}
		return nil
	}, func(f *pflag.FlagSet) {
		pw.register(f)
		f.BoolVar(&admin, "admin", false, "make the user a global admin: role admin on every namespace (*), and the audit log")
	})
	c.Flags().SortFlags = false
	return c
}

func newUserPasswdCmd() *cobra.Command {
	var pw passwordFlags
	c := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password",
		Long: `Change the password of user NAME: from standard input with --password-stdin, or made at
random and printed once. The old password stops working (a running server: within a
second); the user's API tokens keep working (revoke them with chartroom token revoke).` + accessHelp + exitCodesHelp,
		Example: `  echo "$NEW_PASSWORD" | chartroom user passwd admin --data-dir /var/lib/chartroom --password-stdin`,
		Args:    oneArg("the user name"),
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		password, made, err := pw.read(cmd.InOrStdin())
		if err != nil {
			return err
		}
		if err := auth.ValidatePassword(password); err != nil {
			return usageError{err}
		}
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).SetPassword(cmd.Context(), args[0], password); err != nil {
			return err
		}
		res := struct {
			User     string `json:"user"`
			Password string `json:"password,omitempty"`
		}{User: args[0]}
		if made {
			res.Password = password
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, res)
		}
		fmt.Fprintf(out, "changed the password of user %s\n", args[0])
		if made {
			fmt.Fprintf(out, "password: %s\n(shown only now)\n", password)
		}
		return nil
	}, pw.register)
	c.Flags().SortFlags = false
	return c
}

func newUserDeleteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user with its tokens and roles",
		Long: `Delete user NAME with its API tokens and roles: it can no longer sign in (a running server:
within a second). What it published stays.` + accessHelp + exitCodesHelp,
		Example: `  chartroom user delete alice --data-dir /var/lib/chartroom`,
		Args:    oneArg("the user name"),
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		db, err := open()
		if err != nil {
			return err
		}
		if err := cliManager(db).DeleteUser(cmd.Context(), args[0]); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s with its tokens and roles\n", args[0])
		return nil
	}, nil)
	return c
}

// userJSON is a user as user list -o json writes it.
type userJSON struct {
	Name    string      `json:"name"`
	Created time.Time   `json:"created"`
	Roles   []grantJSON `json:"roles"`
	Tokens  int         `json:"activeTokens"`
}

type grantJSON struct {
	Namespace string `json:"namespace"`
	Role      string `json:"role"`
}

func newUserListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the users with their roles",
		Long: `List the users of the server that uses a data directory, with their roles (namespace=role)
and how many API tokens of theirs are active. Read-only: safe while the server runs.` + exitCodesHelp,
		Example: `  chartroom user list --data-dir /var/lib/chartroom
  chartroom user list --config /etc/chartroom.yaml -o json`,
		Args: cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		db, err := open()
		if err != nil {
			return err
		}
		users, err := listUsers(cmd.Context(), db)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			return writeJSONResult(out, users)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tROLES\tACTIVE TOKENS\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", termsafe.Text(u.Name), rolesText(u.Roles), u.Tokens, u.Created.Format(time.RFC3339))
		}
		return tw.Flush()
	}, nil)
	return c
}

// listUsers reads the users with their roles and active tokens.
func listUsers(ctx context.Context, db *meta.DB) ([]userJSON, error) {
	users, err := db.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	grants, err := db.ListGrants(ctx)
	if err != nil {
		return nil, err
	}
	tokens, err := db.ListTokens(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]userJSON, 0, len(users))
	idx := map[string]int{}
	for _, u := range users {
		idx[u.Name] = len(out)
		out = append(out, userJSON{Name: u.Name, Created: u.Created, Roles: []grantJSON{}})
	}
	for _, g := range grants {
		if i, ok := idx[g.User]; ok && g.TokenID == "" {
			out[i].Roles = append(out[i].Roles, grantJSON{Namespace: auth.PatternString(g.Namespace), Role: g.Role})
		}
	}
	now := time.Now()
	for _, t := range tokens {
		if i, ok := idx[t.User]; ok && tokenState(t, now) == "active" {
			out[i].Tokens++
		}
	}
	return out, nil
}

// rolesText writes roles as namespace=role, comma-separated; "none" for none.
func rolesText(roles []grantJSON) string {
	if len(roles) == 0 {
		return "none"
	}
	parts := make([]string, len(roles))
	for i, g := range roles {
		parts[i] = g.Namespace + "=" + g.Role
	}
	return strings.Join(parts, ",")
}
