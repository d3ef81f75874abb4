// Package cli builds chartroom's commands: one file per command, each parsing flags,
// calling a package that does the work, and printing the result.
//
// Exit codes, for every command: 0 success, 1 a check failed (verify, lock --check,
// check), 2 usage, input or I/O error. Errors are one line on stderr: what is wrong and
// what to do; never a stack trace.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/sandbox"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitCheckFailed = 1
	ExitError       = 2
)

// Version is the chartroom version, set at build time with
// -ldflags "-X github.com/chartroom/chartroom/internal/cli.Version=v1.2.3".
var Version = "dev"

// Commit is the source revision, set at build time with
// -ldflags "-X github.com/chartroom/chartroom/internal/cli.Commit=<sha>"; when unset, the
// revision go build recorded (vcs.revision) is used.
var Commit = ""

// CheckFailedError is returned by commands whose check did not pass (exit 1): the
// command ran correctly and found a problem, as opposed to failing to run (exit 2).
type CheckFailedError struct{ Err error }

func (e *CheckFailedError) Error() string { return e.Err.Error() }
func (e *CheckFailedError) Unwrap() error { return e.Err }

// checkFailed wraps err as a failed check (exit 1).
//
//lint:ignore U1000 for the check commands (verify, lock --check, check) as they land.
func checkFailed(format string, args ...any) error {
	return &CheckFailedError{Err: fmt.Errorf(format, args...)}
}

// commands lists the constructors of every top-level command, in help order.
// Add a command by writing <name>.go with a constructor and listing it here.
var commands = []func() *cobra.Command{
	newServeCmd,
	newFsckCmd,
	newGCCmd,
	newBackupCmd,
	newNamespaceCmd,
	newTrustCmd,
	newProxyCmd,
	newPolicyCmd,
	newWebhookCmd,
	newUserCmd,
	newTokenCmd,
	newTokenKeysCmd,
	newGrantCmd,
	newRevokeCmd,
	newAuditCmd,
	newVersionCmd,
	newLoginCmd,
	newLogoutCmd,
	newPushCmd,
	newImportCmd,
	newMirrorCmd,
	newPullCmd,
	newLockCmd,
	newDependencyCmd,
	newCheckCmd,
	newPackageCmd,
	newSignCmd,
	newVerifyCmd,
	newKeygenCmd,
	newIndexCmd,
	newPublishCmd,
	newBumpCmd,
	newReleaseCmd,
	newRenderChildCmd,
}

// NewRoot builds the root command.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "chartroom",
		Short: "A Helm chart registry and release toolchain in one binary",
		Long: `chartroom serves Helm charts over OCI and as a classic chart repository from one
content-addressed store, and packages, signs, checks, versions and publishes them.

Exit codes: 0 ok, 1 a check failed, 2 usage, input or I/O error.`,
		Version:       versionLine(readBuildInfo()),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

// newRenderChildCmd is the hidden command serve starts its render children with, which
// render published charts' templates (internal/sandbox): jobs on stdin, results on stdout.
func newRenderChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    sandbox.ChildCommand,
		Short:  "Render chart jobs from stdin (started by serve)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return sandbox.Child(c.InOrStdin(), c.OutOrStdout())
		},
	}
}

// usageError marks command-line mistakes.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Execute runs chartroom with args and returns the process exit code.
//
// A failure is one line on stderr. When the command was asked for -o json (check: also
// --format json) and printed no result, standard output gets the same as a JSON object,
// {"error": "…", "exit": N}, so that a script reading the output always reads JSON.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	out := &countingWriter{w: stdout}
	root.SetOut(out)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var failed *CheckFailedError
	if errors.As(err, &failed) {
		code = ExitCheckFailed
	}
	// Errors carry text from servers, archives and index files: printed safe, one line.
	msg := termsafe.Text(strings.TrimSpace(err.Error()))
	fmt.Fprintf(stderr, "chartroom: %s\n", msg)
	if out.n == 0 && wantsJSON(cmd, args) {
		_ = writeJSONResult(stdout, jsonError{Error: msg, Exit: code})
	}
	return code
}

// jsonError is a failure in -o json form.
type jsonError struct {
	Error string `json:"error"`
	Exit  int    `json:"exit"`
}

// countingWriter counts what a command wrote to standard output.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// wantsJSON reports whether the command line asks for JSON output: -o/--output json, or
// check's --format json. It reads the parsed flags, and args when parsing stopped before
// them (a usage error).
func wantsJSON(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		for _, name := range []string{"output", "format"} {
			if f := cmd.Flags().Lookup(name); f != nil && f.Changed {
				return f.Value.String() == "json"
			}
		}
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-o", "--output", "--format":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		case "-ojson", "-o=json", "--output=json", "--format=json":
			return true
		}
	}
	return false
}

// Main is the whole program: it runs chartroom with os.Args and exits.
func Main() {
	os.Exit(Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
