package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	yaml3 "go.yaml.in/yaml/v3"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/semverbump"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// bumpKinds are bump's first argument.
var bumpKinds = []string{"major", "minor", "patch", "prerelease", "auto"}

func newBumpCmd() *cobra.Command {
	var appVersion, preid, output string
	var auto checkFlags
	c := &cobra.Command{
		Use:   "bump major|minor|patch|prerelease|auto [DIR]",
		Short: "Raise the chart's version in Chart.yaml, keeping its comments",
		Long: `Raise the version in DIR/Chart.yaml (default: the current directory) and optionally
set appVersion, editing the file in place: comments, key order, quoting and the rest of
the file stay byte for byte. appVersion is written as a quoted string (an unquoted
appVersion such as 1.10 would otherwise be read as the number 1.1).

The version must be strict SemVer (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]). The bump
follows the semver tools (npm semver, semver-tool); build metadata is dropped:

  major       1.4.2 → 2.0.0        2.0.0-rc.1 → 2.0.0 (releases the prerelease)
  minor       1.4.2 → 1.5.0        1.5.0-rc.1 → 1.5.0
  patch       1.4.2 → 1.4.3        1.4.3-rc.1 → 1.4.3
  prerelease  1.4.2 → 1.4.3-rc.0   1.5.0-rc.1 → 1.5.0-rc.2, 1.5.0-beta → 1.5.0-beta.0
              --preid beta: 1.4.2 → 1.4.3-beta.0, 1.5.0-rc.1 → 1.5.0-beta.0
  auto        the smallest version chartroom check accepts against --against BASELINE
              (1.4.2 → 2.0.0 after a breaking change); unchanged when the version is
              already enough

It prints: myapp 1.4.2 → 1.5.0 (appVersion 2.3.0 → 2.3.1).` + exitCodesHelp,
		Example: `  chartroom bump minor ./mychart --app-version 2.3.1
  chartroom bump prerelease --preid beta
  chartroom bump patch ./mychart -o json | jq -r .version
  chartroom bump auto ./mychart --against oci://charts.example.com/team/mychart`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("bump takes major, minor, patch or prerelease (or auto), then optionally the chart directory; got %d arguments (see %s --help)", len(args), c.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			kind, dir := args[0], "."
			if len(args) == 2 {
				dir = args[1]
			}
			if !slices.Contains(bumpKinds, kind) {
				return usageError{fmt.Errorf("bump %q: say which part to raise: major, minor, patch or prerelease, or auto", kind)}
			}
			if cmd.Flags().Changed("preid") && kind != "prerelease" {
				return usageError{errors.New("--preid applies to bump prerelease only")}
			}
			if !semverbump.ValidPreid(preid) {
				return usageError{fmt.Errorf("--preid %q: use letters, digits and '-' (e.g. rc, beta, alpha)", preid)}
			}
			to := ""
			if kind == "auto" {
				v, done, err := bumpAuto(cmd, dir, &auto, output)
				if done || err != nil {
					return err
				}
				to = v
			}
			if !cmd.Flags().Changed("preid") {
				preid = "" // a prerelease keeps its own identifier
			}
			res, err := bumpChart(cmd, dir, semverbump.Kind(kind), preid, appVersion, cmd.Flags().Changed("app-version"), to)
			if err != nil {
				return toolErr(err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONResult(out, res)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			fmt.Fprintf(out, "%s %s → %s", termsafe.Text(res.Name), termsafe.Text(res.OldVersion), termsafe.Text(res.Version))
			if res.OldAppVersion != res.AppVersion {
				fmt.Fprintf(out, " (appVersion %s → %s)", termsafe.Text(orNone(res.OldAppVersion)), termsafe.Text(res.AppVersion))
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&appVersion, "app-version", "", "also set appVersion (written quoted)")
	f.StringVar(&preid, "preid", semverbump.DefaultPreid, "prerelease identifier for bump prerelease")
	addOutputFlag(c, &output)
	auto.registerAuto(f)
	return c
}

// bumpResult is bump's --output json.
type bumpResult struct {
	File          string `json:"file"`
	Name          string `json:"name"`
	OldVersion    string `json:"oldVersion"`
	Version       string `json:"version"`
	OldAppVersion string `json:"oldAppVersion,omitempty"`
	AppVersion    string `json:"appVersion,omitempty"`
	// Warnings are printed on stderr in text output.
	Warnings []string `json:"warnings,omitempty"`
}

// bumpChart raises the version as kind says, or sets it to to when given (bump auto).
func bumpChart(cmd *cobra.Command, dir string, kind semverbump.Kind, preid, appVersion string, setApp bool, to string) (*bumpResult, error) {
	file := filepath.Join(dir, chart.ChartfileName)
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, derr := os.Stat(dir); derr != nil {
			return nil, fmt.Errorf("bump: %s does not exist: give the chart's directory", dir)
		}
		return nil, fmt.Errorf("bump: %s has no Chart.yaml: give a chart's directory", dir)
	case err != nil:
		return nil, fmt.Errorf("bump: %w", unwrapPathError(err))
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bump: %w", unwrapPathError(err))
	}
	fields, err := topLevelScalars(raw)
	if err != nil {
		return nil, fmt.Errorf("bump: %s", positioned(dir, err))
	}
	res := &bumpResult{File: file}
	for key, p := range map[string]*string{"name": &res.Name, "version": &res.OldVersion, "appVersion": &res.OldAppVersion} {
		if n := fields[key]; n != nil {
			*p = n.Value
		}
	}
	if res.OldVersion == "" {
		return nil, fmt.Errorf("bump: %s has no version: add e.g. version: 0.1.0", file)
	}
	v, err := chart.ParseVersion(res.OldVersion)
	if err != nil {
		return nil, fmt.Errorf("bump: %s: version %w", file, err)
	}
	res.Version = to
	if to == "" {
		if res.Version, err = semverbump.Bump(v, kind, preid); err != nil {
			return nil, fmt.Errorf("bump: %s: %w", file, err)
		}
		if w := semverbump.LowerWarning(v, res.Version); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
	}

	out, err := chart.SetChartYAMLValue(raw, "version", res.Version)
	if err != nil {
		return nil, fmt.Errorf("bump: %s: %w", file, err)
	}
	res.AppVersion = res.OldAppVersion
	if setApp {
		if appVersion == "" {
			return nil, usageError{errors.New("--app-version is empty: give the application's version, e.g. 2.3.1")}
		}
		if out, err = chart.SetChartYAMLValue(out, "appVersion", appVersion); err != nil {
			return nil, fmt.Errorf("bump: %s: %w", file, err)
		}
		res.AppVersion = appVersion
	}
	if out, err = chart.QuoteChartYAMLValue(out, "appVersion"); err != nil {
		return nil, fmt.Errorf("bump: %s: %w", file, err)
	}
	err = chart.WriteFileAtomic(cmd.Context(), file, fi.Mode().Perm(), func(w io.Writer) error {
		_, err := w.Write(out)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bump: %w", err)
	}
	return res, nil
}

// topLevelScalars parses Chart.yaml and returns its top-level scalar values by key.
func topLevelScalars(raw []byte) (map[string]*yaml3.Node, error) {
	var doc yaml3.Node
	if err := yaml3.Unmarshal(raw, &doc); err != nil {
		if _, perr := chart.ParseMetadata(raw); perr != nil {
			return nil, perr // positioned: Chart.yaml:7: …
		}
		return nil, fmt.Errorf("%s: %w", chart.ChartfileName, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml3.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping of keys (name: …, version: …)", chart.ChartfileName)
	}
	root := doc.Content[0]
	out := map[string]*yaml3.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k, v := root.Content[i], root.Content[i+1]; v.Kind == yaml3.ScalarNode {
			out[k.Value] = v
		}
	}
	return out, nil
}

// positioned prefixes "Chart.yaml:7: …" with the chart directory.
func positioned(dir string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, chart.ChartfileName) {
		return filepath.Join(dir, msg)
	}
	return msg
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
