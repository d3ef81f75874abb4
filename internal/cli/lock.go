package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// lockCheckResult is lock --check's JSON output.
type lockCheckResult struct {
	File        string   `json:"file"`
	InSync      bool     `json:"inSync"`
	Differences []string `json:"differences"`
}

func newLockCmd() *cobra.Command {
	var (
		f     clientFlags
		check bool
	)
	cmd := &cobra.Command{
		Use:   "lock [DIR]",
		Short: "Resolve Chart.yaml's dependency constraints into Chart.lock, or check it",
		Long: `Resolve each dependency's version constraint in DIR/Chart.yaml (default: the current
directory) against its repository and write Chart.lock (requirements.lock for apiVersion v1
charts) atomically, with the digest helm dependency update computes for the same inputs, so
helm dependency build accepts it:

  https://HOST/NAMESPACE   the newest version in its index.yaml satisfying the constraint
  oci://HOST/NAMESPACE     the newest version among its tags (an exact version is taken as is)
  file://PATH              the version of the chart at PATH, relative to DIR
  @NAME, alias:NAME        a repository added with helm repo add
  (no repository)          a chart kept in charts/, locked with its constraint

Nothing is downloaded (chartroom dependency build does that). When the resolution is what
the lock file already says, the file is left untouched.

With --check nothing is resolved and nothing is contacted: Chart.lock is compared with
Chart.yaml, and any difference is listed with exit code 1. Run it in CI, and lock on a
developer machine: builds then never re-resolve.

Registries are reached with the logins stored by chartroom login, helm registry login or
docker login. A stored login crosses the network only encrypted: it goes to https://
repositories, to oci:// registries (over plain HTTP only with --plain-http), and to
http:// ones only on a loopback host or with --insecure-send-credentials-over-http. The
credentials helm repo add stored for exactly a repository's URL go to it as helm sends
them.

Exit codes: 0 locked (or, with --check, in sync), 1 --check found differences, 2 usage,
I/O, registry error or no version satisfying a constraint.`,
		Example: `  chartroom lock
  chartroom lock charts/myapp --plain-http
  chartroom lock charts/myapp --check
  chartroom lock --check -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.checkOutput(); err != nil {
				return err
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			cl, err := f.newClient(c, creds{})
			if err != nil {
				return err
			}
			out := c.OutOrStdout()
			if check {
				return lockCheck(c, cl, dir, f.output)
			}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := cl.Lock(ctx, dir)
			if err != nil {
				return clientError(err)
			}
			if f.output == "json" {
				return writeJSONResult(out, res)
			}
			if res.File == "" {
				_, err := fmt.Fprintln(out, "Chart.yaml declares no dependencies: nothing to lock")
				return err
			}
			for _, d := range res.Dependencies {
				repo := d.Repository
				if repo == "" {
					repo = "(charts/)"
				}
				fmt.Fprintf(out, "%s %s %s\n", termsafe.Text(d.Name), termsafe.Text(d.Version), termsafe.Text(repo))
			}
			if res.Changed {
				fmt.Fprintf(out, "Wrote %s (%s)\n", termsafe.Text(res.File), res.Digest)
			} else {
				fmt.Fprintf(out, "%s is up to date (%s)\n", termsafe.Text(res.File), res.Digest)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "compare the lock file with Chart.yaml offline; exit 1 listing the differences")
	f.register(cmd.Flags(), false, true)
	return cmd
}

// lockCheck is lock --check.
func lockCheck(c *cobra.Command, cl *client.Client, dir, output string) error {
	out := c.OutOrStdout()
	file, err := cl.CheckLock(c.Context(), dir)
	var le *chart.LockError
	if err != nil && !errors.As(err, &le) {
		return err
	}
	res := lockCheckResult{File: file, InSync: err == nil, Differences: []string{}}
	if le != nil {
		res.Differences = le.Differences
	}
	if output == "json" {
		if err := writeJSONResult(out, res); err != nil {
			return err
		}
	} else if res.File == "" {
		fmt.Fprintln(out, "Chart.yaml declares no dependencies: nothing to check")
	} else if res.InSync {
		fmt.Fprintf(out, "%s matches Chart.yaml\n", termsafe.Text(res.File))
	} else {
		for _, d := range res.Differences {
			fmt.Fprintf(out, "- %s\n", termsafe.Text(d))
		}
	}
	if !res.InSync {
		return checkFailed("%s is out of sync with Chart.yaml (%d difference(s)): run `chartroom lock %s` and commit %s", res.File, len(res.Differences), dir, filepath.Base(res.File))
	}
	return nil
}
