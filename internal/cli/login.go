package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/chartroom/chartroom/internal/client"
)

// flagHTTPCredentials opts in to sending stored registry logins to http:// repositories.
const flagHTTPCredentials = "insecure-send-credentials-over-http"

// Environment variables giving credentials to the networked commands (CI).
const (
	envUsername = "CHARTROOM_USERNAME"
	envPassword = "CHARTROOM_PASSWORD"
)

// clientFlags are the connection flags of the commands that talk to registries, named as
// helm names them.
type clientFlags struct {
	username, password string
	passwordStdin      bool
	plainHTTP          bool
	httpCredentials    bool
	insecure           bool
	caFile             string
	certFile, keyFile  string
	output             string
}

// register adds the connection flags; withCreds adds --username, --password and
// --password-stdin; withOutput adds -o/--output.
func (f *clientFlags) register(fs *pflag.FlagSet, withCreds, withOutput bool) {
	if withCreds {
		fs.StringVarP(&f.username, "username", "u", "", "registry username (env "+envUsername+"; default: the stored login)")
		fs.StringVarP(&f.password, "password", "p", "", "registry password or token (env "+envPassword+"; prefer --password-stdin)")
		fs.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password or token from standard input")
	}
	fs.BoolVar(&f.plainHTTP, "plain-http", false, "talk to oci:// registries over plain HTTP (local registries)")
	fs.BoolVar(&f.httpCredentials, flagHTTPCredentials, false, "send a host's stored registry login to its http:// chart repositories too, unencrypted (always sent to loopback hosts)")
	fs.BoolVar(&f.insecure, "insecure-skip-tls-verify", false, "accept any TLS certificate (do not use on the internet)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of certificate authorities to trust besides the system's")
	fs.StringVar(&f.certFile, "cert-file", "", "PEM client certificate, for servers that require one (mutual TLS); with --key-file")
	fs.StringVar(&f.keyFile, "key-file", "", "PEM private key of --cert-file")
	if withOutput {
		fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	}
}

// creds are the credentials a command was given, and where they came from.
type creds struct {
	user, pass string
	// source names where they came from, for the messages that refuse them, when the
	// environment gave any: "the credentials from CHARTROOM_USERNAME and CHARTROOM_PASSWORD"
	// ("" when the flags gave them all).
	source string
}

// credentials resolves --username/--password[-stdin], then the environment.
func (f *clientFlags) credentials(c *cobra.Command) (creds, error) {
	cr := creds{user: f.username, pass: f.password}
	userFrom, passFrom := "--username", "--password"
	if f.passwordStdin {
		if cr.pass != "" {
			return creds{}, usageError{errors.New("give the password once: --password or --password-stdin")}
		}
		var err error
		if cr.pass, err = readPasswordStdin(c.InOrStdin()); err != nil {
			return creds{}, err
		}
		passFrom = "--password-stdin"
	}
	if cr.user == "" {
		cr.user, userFrom = os.Getenv(envUsername), envUsername
	}
	if cr.pass == "" && !f.passwordStdin {
		cr.pass, passFrom = os.Getenv(envPassword), envPassword
	}
	if cr.pass != "" && cr.user == "" {
		return creds{}, usageError{fmt.Errorf("a password without a username: add --username (or set %s)", envUsername)}
	}
	if cr.user != "" && (userFrom == envUsername || passFrom == envPassword && cr.pass != "") {
		cr.source = "the credentials from " + userFrom
		if cr.pass != "" {
			cr.source += " and " + passFrom
		}
	}
	return cr, nil
}

// readPasswordStdin reads one line (a token may be the whole input) without its newline.
func readPasswordStdin(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pass := strings.TrimRight(string(data), "\r\n")
	if pass == "" {
		return "", errors.New("--password-stdin: standard input is empty; pipe the password in, e.g. echo \"$TOKEN\" | chartroom …")
	}
	return pass, nil
}

// checkOutput validates -o.
func (f *clientFlags) checkOutput() error {
	if f.output != "text" && f.output != "json" {
		return usageError{fmt.Errorf("--output %q: expected text or json", f.output)}
	}
	return nil
}

// newClient builds the registry client of a command; the credentials, when set, are sent
// to every host instead of stored logins.
func (f *clientFlags) newClient(c *cobra.Command, cr creds) (*client.Client, error) {
	progress := client.ProgressWriter(c.ErrOrStderr())
	if f.output == "json" {
		progress = nil
	}
	return client.New(client.Options{
		Username:                cr.user,
		Password:                cr.pass,
		CredentialSource:        cr.source,
		PlainHTTP:               f.plainHTTP,
		SendCredentialsOverHTTP: f.httpCredentials,
		InsecureSkipTLSVerify:   f.insecure,
		CAFile:                  f.caFile,
		CertFile:                f.certFile,
		KeyFile:                 f.keyFile,
		Progress:                progress,
		UserAgent:               "chartroom/" + buildVersion(),
	})
}

// interruptible is the command's context, cancelled by SIGINT or SIGTERM, so that an
// interrupted transfer removes its temporary files and exits with one line.
func interruptible(c *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// clientError maps a client error to the exit code convention: a failed verification or
// an out-of-sync lock file is a failed check (1), anything else an error (2).
func clientError(err error) error {
	if errors.Is(err, client.ErrVerifyFailed) {
		return &CheckFailedError{Err: err}
	}
	return err
}

func newLoginCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "login HOST",
		Short: "Log in to a registry; helm and docker see the same login",
		Long: `Log in to a chartroom server or any OCI registry. The credentials are checked against
the registry (GET /v2/) and stored in helm's registry config ($HELM_REGISTRY_CONFIG,
default ~/.config/helm/registry/config.json, docker's config.json format, credential
helpers honoured), so helm push and helm pull use them too. chartroom also reads the
logins of helm registry login and docker login (~/.docker/config.json, $DOCKER_CONFIG).

The stored login is used for oci:// and https:// addresses of that host by push, pull,
lock and dependency build; for its http:// addresses only when the host is a loopback
address or with --insecure-send-credentials-over-http (plain HTTP is readable on the
network).

The username and password come from --username and --password-stdin (or --password),
else from CHARTROOM_USERNAME and CHARTROOM_PASSWORD, else from a prompt on a terminal.

Exit codes: 0 logged in, 2 wrong credentials, unreachable host or other error.`,
		Example: `  chartroom login charts.example.com --username ci --password-stdin < token.txt
  echo "$TOKEN" | chartroom login localhost:8080 -u admin --password-stdin --plain-http
  CHARTROOM_USERNAME=ci CHARTROOM_PASSWORD=$TOKEN chartroom login charts.example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			host, plain, err := client.LoginHost(args[0])
			if err != nil {
				return usageError{err}
			}
			f.plainHTTP = f.plainHTTP || plain
			cr, err := f.credentials(c)
			if err != nil {
				return err
			}
			user, pass, err := promptCredentials(c, host, cr.user, cr.pass)
			if err != nil {
				return err
			}
			if user != cr.user || pass != cr.pass {
				cr.source = "" // typed at the prompt
			}
			cl, err := f.newClient(c, creds{source: cr.source})
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			path, err := cl.Login(ctx, host, user, pass)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "Login Succeeded (stored in %s)\n", path)
			return err
		},
	}
	f.register(cmd.Flags(), true, false)
	_ = cmd.Flags().MarkHidden(flagHTTPCredentials) // login sends the credentials it is given
	return cmd
}

// promptCredentials asks for what is missing when standard input is a terminal.
func promptCredentials(c *cobra.Command, host, user, pass string) (string, string, error) {
	if user != "" && pass != "" {
		return user, pass, nil
	}
	in, ok := c.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", "", usageError{fmt.Errorf("no credentials for %s: pass --username and --password-stdin, or set %s and %s", host, envUsername, envPassword)}
	}
	errw := c.ErrOrStderr()
	if user == "" {
		fmt.Fprint(errw, "Username: ")
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && line == "" {
			return "", "", fmt.Errorf("read the username: %w", err)
		}
		if user = strings.TrimSpace(line); user == "" {
			return "", "", usageError{errors.New("the username is empty")}
		}
	}
	if pass == "" {
		fmt.Fprint(errw, "Password: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", "", fmt.Errorf("read the password: %w", err)
		}
		if pass = string(b); pass == "" {
			return "", "", usageError{errors.New("the password is empty")}
		}
	}
	return user, pass, nil
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout HOST",
		Short: "Remove a registry login stored by chartroom login or helm registry login",
		Long: `Remove HOST's login from helm's registry config ($HELM_REGISTRY_CONFIG, default
~/.config/helm/registry/config.json). A login in docker's config.json is left to
docker logout.

Exit codes: 0 removed, 2 no login for HOST or other error.`,
		Example: `  chartroom logout charts.example.com`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			host, _, err := client.LoginHost(args[0])
			if err != nil {
				return usageError{err}
			}
			cl, err := client.New(client.Options{RepositoryConfig: "-"})
			if err != nil {
				return err
			}
			inDocker, err := cl.Logout(c.Context(), host)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Removed the login for %s\n", host)
			if inDocker {
				fmt.Fprintf(c.ErrOrStderr(), "note: docker's config.json still holds a login for %s, which chartroom will use: run `docker logout %s` to remove it\n", host, host)
			}
			return nil
		},
	}
}
