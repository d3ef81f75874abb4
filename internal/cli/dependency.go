package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newDependencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dependency",
		Aliases: []string{"dep", "dependencies"},
		Short:   "Fetch a chart's locked dependencies into charts/",
		Long: `Manage a chart's dependencies. chartroom lock resolves Chart.yaml's constraints into
Chart.lock; chartroom dependency build fetches exactly what Chart.lock names. Together they
do what helm dependency update does.`,
		Example: `  chartroom lock && chartroom dependency build`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{errors.New("name a subcommand: chartroom dependency build")}
		},
	}
	cmd.AddCommand(newDependencyBuildCmd(), newDependencyUpdateCmd())
	return cmd
}

// newDependencyUpdateCmd answers helm's `dependency update` with chartroom's two steps.
func newDependencyUpdateCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "update [DIR]",
		Aliases:            []string{"up"},
		Short:              "helm dependency update's two steps are chartroom lock, then chartroom dependency build",
		Hidden:             true,
		DisableFlagParsing: true, // helm's flags (--skip-refresh, …) get the same answer
		RunE: func(c *cobra.Command, args []string) error {
			dir := ""
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				dir = " " + args[0] // helm dependency update CHART [flags]
			}
			return usageError{fmt.Errorf("there is no dependency update: what helm dependency update does takes two steps here, `chartroom lock%s` (writes Chart.lock from Chart.yaml's constraints), then `chartroom dependency build%s` (downloads what Chart.lock names)", dir, dir)}
		},
	}
}

func newDependencyBuildCmd() *cobra.Command {
	var (
		f clientFlags
		v clientVerifyFlags
	)
	cmd := &cobra.Command{
		Use:   "build [DIR]",
		Short: "Download exactly the versions Chart.lock names into charts/",
		Long: `Download the dependencies of the chart in DIR (default: the current directory) at
exactly the versions its Chart.lock names, into DIR/charts/, as helm dependency build does —
except that chartroom never re-resolves: a Chart.lock missing or out of sync with
Chart.yaml is refused with exit code 1 (run chartroom lock).

Every archive is checked (its digest, that it holds the locked name and version, and with
--verify its signature) before any is moved into charts/; then chart archives in charts/
that are no longer locked are removed. file:// dependencies are packaged from their
directory; charts kept in charts/ without a repository are checked against their
constraint.

Registries are reached with the logins stored by chartroom login, helm registry login or
docker login. A stored login crosses the network only encrypted: it goes to https://
repositories, to oci:// registries (over plain HTTP only with --plain-http), and to
http:// ones only on a loopback host or with --insecure-send-credentials-over-http. The
credentials helm repo add stored for exactly a repository's URL go to it as helm sends
them.

Exit codes: 0 built, 1 Chart.lock out of sync or verification failed, 2 usage, I/O or
registry error.`,
		Example: `  chartroom dependency build
  chartroom dependency build charts/myapp --verify --keyring pubring.gpg
  chartroom dep build --plain-http -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.checkOutput(); err != nil {
				return err
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			verify, err := v.verifier()
			if err != nil {
				return err
			}
			cl, err := f.newClient(c, creds{})
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := cl.BuildDependencies(ctx, dir, client.BuildOptions{Verify: verify})
			var le *chart.LockError
			if errors.As(err, &le) {
				if f.output == "json" {
					if err := writeJSONResult(c.OutOrStdout(), lockCheckResult{File: le.File, Differences: le.Differences}); err != nil {
						return err
					}
				} else {
					for _, d := range le.Differences {
						fmt.Fprintf(c.OutOrStdout(), "- %s\n", termsafe.Text(d))
					}
				}
				return checkFailed("%s is out of sync with Chart.yaml (%d difference(s)): run `chartroom lock %s`, commit %s, then build", le.File, len(le.Differences), dir, le.File)
			}
			if err != nil {
				return clientError(err)
			}
			out := c.OutOrStdout()
			if f.output == "json" {
				return writeJSONResult(out, res)
			}
			if len(res.Charts) == 0 {
				_, err := fmt.Fprintln(out, "Chart.yaml declares no dependencies: nothing to build")
				return err
			}
			for _, b := range res.Charts {
				line := fmt.Sprintf("%s %s -> %s", termsafe.Text(b.Name), termsafe.Text(b.Version), termsafe.Text(b.Path))
				if b.Verified {
					line += " (signed by " + termsafe.Text(b.SignedBy) + ")"
				}
				fmt.Fprintln(out, line)
			}
			for _, r := range res.Removed {
				fmt.Fprintf(out, "Removed outdated %s\n", termsafe.Text(r))
			}
			return nil
		},
	}
	v.register(cmd.Flags(), "every dependency")
	f.register(cmd.Flags(), false, true)
	return cmd
}
