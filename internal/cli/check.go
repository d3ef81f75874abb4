package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/chartroom/chartroom/internal/safeyaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/release"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// checkFlags are the options of check (and of bump auto, which runs the same comparison).
type checkFlags struct {
	against         string
	baselineVersion string
	strict          bool
	imageTagKeys    []string
	kubeVersion     string
	valuesFiles     []string
	skipSchema      bool
	allowNew        bool
	client          clientFlags
}

func (f *checkFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.against, "against", "", "the last published version: oci://HOST/NS/NAME[:VERSION], https://HOST/NS, a .tgz, a chart directory or a git revision (required)")
	fs.StringVar(&f.baselineVersion, "baseline-version", "", "version or constraint to pick from an oci:// or https:// baseline (default: the newest non-prerelease version)")
	fs.BoolVar(&f.allowNew, "allow-new", false, "pass, with a note, when BASELINE has no version of the chart yet (its first release)")
	f.registerRules(fs)
	f.client.register(fs, true, false)
}

// registerRules adds the flags that say how charts are compared (check and release).
func (f *checkFlags) registerRules(fs *pflag.FlagSet) {
	fs.BoolVar(&f.strict, "strict", false, "fail (not warn) when appVersion does not follow the default image tag")
	fs.StringSliceVar(&f.imageTagKeys, "image-tag-key", release.DefaultImageTagKeys, "values keys holding the default image tag: dotted globs, * one key, ** any depth (repeatable or comma-separated)")
	fs.StringVar(&f.kubeVersion, "kube-version", "", "Kubernetes version for .Capabilities.KubeVersion, as helm template --kube-version (default: helm's)")
	fs.StringArrayVarP(&f.valuesFiles, "values", "f", nil, "values file merged over the defaults of both charts before rendering, as helm template -f (repeatable)")
	fs.BoolVar(&f.skipSchema, "skip-schema-validation", false, "render without validating values against values.schema.json")
}

// options are the comparison options the flags give.
func (f *checkFlags) options() (release.Options, error) {
	vals, err := readValuesFiles(f.valuesFiles)
	if err != nil {
		return release.Options{}, err
	}
	return release.Options{
		Strict: f.strict, ImageTagKeys: f.imageTagKeys, KubeVersion: f.kubeVersion,
		Values: vals, SkipSchemaValidation: f.skipSchema,
	}, nil
}

// registerAuto adds the flags bump auto needs to run the check.
func (f *checkFlags) registerAuto(fs *pflag.FlagSet) {
	fs.StringVar(&f.against, "against", "", "bump auto: the last published version, as chartroom check --against takes it")
	fs.StringVar(&f.baselineVersion, "baseline-version", "", "bump auto: version or constraint to pick from an oci:// or https:// baseline")
	fs.StringVar(&f.kubeVersion, "kube-version", "", "bump auto: Kubernetes version to render for, as helm template --kube-version")
	fs.StringArrayVarP(&f.valuesFiles, "values", "f", nil, "bump auto: values file to render with, as helm template -f (repeatable)")
	fs.BoolVar(&f.skipSchema, "skip-schema-validation", false, "bump auto: render without validating values against values.schema.json")
	f.client.register(fs, true, false)
}

func newCheckCmd() *cobra.Command {
	var (
		f       checkFlags
		output  string
		format  string
		suggest bool
	)
	cmd := &cobra.Command{
		Use:   "check [DIR] --against BASELINE",
		Short: "Tell which version bump a chart's changes require, and check its version",
		Long: `Compare the chart in DIR (default: the current directory) with BASELINE, the last
published version, report every change with the SemVer bump it requires, and check the
release discipline.

BASELINE is one of
  oci://HOST/NAMESPACE/NAME[:VERSION]   an OCI repository (newest release version)
  https://HOST/NAMESPACE                a chart repository (newest release of DIR's chart)
  FILE.tgz                              a chart archive
  DIR                                   another chart directory
  REVISION                              a git revision of DIR (a tag, a branch, HEAD~1, …)
--baseline-version picks another version from a registry (e.g. ^1.4, 1.4.2).

Severities:
  major  a values key removed or renamed, a value's type changed, values.schema.json
         made stricter (new required property, removed property, narrowed type, enum or
         bound, additionalProperties: false added), a resource that helm template renders
         with default values removed or its kind/name changed, kubeVersion narrowed, a
         dependency removed or its major version changed
  minor  new values keys, optional schema properties, templates, resources or dependencies
  patch  any other change to the chart's content
  none   the same content (Chart.yaml's version aside)

Rules (errors fail the check with exit 1):
  - version is strict SemVer, greater than the baseline's when the content changed, by at
    least the required bump (in 0.y.z a minor bump may break; prereleases of the same
    version may change anything)
  - a published version never changes: content changed without a new version fails
  - appVersion never changes without the version (rollbacks would deploy the new app)
  - Chart.lock matches Chart.yaml's dependencies
  - appVersion follows the default image tag (--image-tag-key): a warning, an error with
    --strict

Resources are rendered with helm's template engine (helm v3.22.0), with default values,
release name "release-name", namespace "default", as helm template does.

--suggest prints only the smallest valid next version; chartroom bump auto writes it.

When BASELINE has no version of the chart (it was never published, or the git revision
predates its directory), check fails with exit 2, unless --allow-new: the chart is then
checked as a first release (strict SemVer version, Chart.lock in sync, appVersion and
image tag) and passes with a note.

Output: text (default), json (-o json), or GitHub workflow annotations (--format github)
on the lines of Chart.yaml, values.yaml, … in a pull request.` + checkExitCodes,
		Example: `  chartroom check ./charts/myapp --against oci://charts.example.com/team/myapp
  chartroom check ./charts/myapp --against https://charts.example.com/team -o json
  chartroom check ./charts/myapp --against origin/main --format github
  chartroom check --against myapp-1.4.2.tgz --suggest
  chartroom check --against oci://localhost:8080/team/myapp --plain-http --strict
  chartroom check ./charts/newapp --against oci://charts.example.com/team/newapp --allow-new`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("check takes at most one chart directory; got %d arguments (see %s --help)", len(args), c.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := checkOutput(cmd, output, format)
			if err != nil {
				return err
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			rep, err := runCheck(cmd, dir, &f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if suggest {
				fmt.Fprintln(w, termsafe.Text(rep.Suggested))
				return nil
			}
			switch out {
			case "json":
				err = rep.WriteJSON(w)
			case "github":
				err = rep.WriteGitHub(w, githubDir(cmd.Context(), dir))
			default:
				err = rep.WriteText(w)
			}
			if err != nil {
				return err
			}
			if rep.Failed() {
				return checkFailed("check failed: %s", checkSummary(rep))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	f.register(fl)
	fl.StringVarP(&output, "output", "o", "text", "output format: text, json or github")
	fl.StringVar(&format, "format", "", "same as --output (text, json or github)")
	fl.BoolVar(&suggest, "suggest", false, "print only the smallest valid next version")
	return cmd
}

const checkExitCodes = `

Exit codes: 0 ok (warnings allowed), 1 the discipline is violated, 2 usage, input or I/O error.`

// checkOutput reconciles --output and --format.
func checkOutput(cmd *cobra.Command, output, format string) (string, error) {
	if cmd.Flags().Changed("format") {
		if cmd.Flags().Changed("output") && output != format {
			return "", usageError{fmt.Errorf("--output %s and --format %s disagree: give one", output, format)}
		}
		output = format
	}
	switch output {
	case "text", "json", "github":
		return output, nil
	}
	return "", usageError{fmt.Errorf("--output %q: use text, json or github", output)}
}

// runCheck loads the chart and its baseline and compares them.
func runCheck(cmd *cobra.Command, dir string, f *checkFlags) (*release.Report, error) {
	if f.against == "" {
		return nil, usageError{errors.New("--against is required: name the last published version (oci://HOST/NS/NAME, https://HOST/NS, a .tgz or a git revision)")}
	}
	ctx := cmd.Context()
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	cur, err := release.LoadChartDir(ctx, dir, chart.Limits{})
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	base, source, err := loadBaseline(cmd, dir, cur.Metadata.Name, f)
	var rep *release.Report
	switch {
	case errors.Is(err, client.ErrNotPublished) || errors.Is(err, release.ErrNoBaseline):
		if !f.allowNew {
			return nil, fmt.Errorf("%w; if this is the first release of %s, pass --allow-new (check then passes with a note)", err, cur.Metadata.Name)
		}
		opts.Source = f.against
		rep, err = release.CheckFirstRelease(cur, opts, noBaselineReason(f.against, cur.Metadata.Name))
	case err != nil:
		return nil, err
	default:
		opts.Source = source
		rep, err = release.Check(ctx, base, cur, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	return rep, nil
}

// noBaselineReason says where a chart has no published version, for check --allow-new.
func noBaselineReason(against, name string) string {
	switch {
	case strings.HasPrefix(against, "oci://"):
		return against + " has no published version"
	case isRegistryURL(against):
		return against + " has no published version of " + name
	}
	return "the chart directory did not exist at git revision " + against
}

// isRegistryURL reports whether a baseline names a registry (else a file, a directory or a
// git revision).
func isRegistryURL(against string) bool {
	return strings.HasPrefix(against, "oci://") || strings.HasPrefix(against, "https://") || strings.HasPrefix(against, "http://")
}

// loadBaseline fetches or reads the baseline f.against names.
func loadBaseline(cmd *cobra.Command, dir, name string, f *checkFlags) (*chart.Chart, string, error) {
	ctx := cmd.Context()
	against := f.against
	if isRegistryURL(against) {
		return pullBaseline(cmd, name, f)
	}
	if f.baselineVersion != "" {
		return nil, "", usageError{errors.New("--baseline-version applies to oci:// and https:// baselines")}
	}
	if fi, err := os.Stat(against); err == nil {
		if fi.IsDir() {
			ch, err := chart.LoadDir(ctx, against, chart.Limits{})
			if err != nil {
				return nil, "", fmt.Errorf("baseline: %w", err)
			}
			return ch, against, nil
		}
		ch, err := release.LoadArchiveFile(ctx, against, chart.Limits{})
		return ch, against, err
	}
	if strings.HasSuffix(against, ".tgz") {
		return nil, "", fmt.Errorf("baseline %s: no such file", against)
	}
	ch, err := release.LoadGitRevision(ctx, dir, against, chart.Limits{})
	if err != nil {
		if errors.Is(err, release.ErrNotGitRevision) {
			return nil, "", fmt.Errorf("%w; --against takes oci://HOST/NS/NAME, https://HOST/NS, a .tgz, a chart directory or a git revision", err)
		}
		return nil, "", err
	}
	return ch, "git " + against, nil
}

// pullBaseline downloads the baseline from a registry into a temporary directory.
func pullBaseline(cmd *cobra.Command, name string, f *checkFlags) (*chart.Chart, string, error) {
	cr, err := f.client.credentials(cmd)
	if err != nil {
		return nil, "", err
	}
	cl, err := f.client.newClient(cmd, cr)
	if err != nil {
		return nil, "", err
	}
	args := []string{f.against}
	if !strings.HasPrefix(f.against, "oci://") {
		args = append(args, name)
	}
	ref, err := cl.ParseChartRef(args, "")
	if err != nil {
		return nil, "", usageError{fmt.Errorf("--against: %w", err)}
	}
	tmp, err := os.MkdirTemp("", "chartroom-baseline-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	ch, res, err := pullChart(cmd.Context(), cl, ref, f.baselineVersion, tmp)
	if err != nil {
		return nil, "", err
	}
	return ch, res.Source, nil
}

// pullChart downloads version (a version or constraint; "" for the newest release) of ref
// into dir and loads it, as check's baselines are loaded.
func pullChart(ctx context.Context, cl *client.Client, ref client.ChartRef, version, dir string) (*chart.Chart, *client.PullResult, error) {
	res, err := cl.Pull(ctx, ref, client.PullOptions{Version: version, DestDir: dir})
	if err != nil {
		return nil, nil, clientError(err)
	}
	ch, err := release.LoadArchiveFile(ctx, res.Path, chart.Limits{})
	return ch, res, err
}

// readValuesFiles merges -f files as helm does (later files win, maps merged).
func readValuesFiles(files []string) (map[string]any, error) {
	if len(files) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--values: %w", err)
		}
		var v map[string]any
		if err := safeyaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("--values %s: %w", name, err)
		}
		mergeValues(out, v)
	}
	return out, nil
}

func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// checkSummary is the one-line reason the check failed.
func checkSummary(rep *release.Report) string {
	var msgs []string
	for _, p := range rep.Problems {
		if p.Level == release.LevelError {
			msg, _, _ := strings.Cut(p.Message, "\n")
			msgs = append(msgs, msg)
		}
	}
	return strings.Join(msgs, "; ")
}

// githubDir is the chart directory relative to the repository root (git
// work tree, else the current directory), as GitHub annotations need.
func githubDir(ctx context.Context, dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	root, err := os.Getwd()
	if out, gerr := exec.CommandContext(ctx, "git", "-C", abs, "rev-parse", "--show-toplevel").Output(); gerr == nil {
		root, err = strings.TrimSpace(string(out)), nil
	}
	if err != nil {
		return dir
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	if a, err := filepath.EvalSymlinks(abs); err == nil {
		abs = a
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return dir
	}
	return filepath.ToSlash(rel)
}

// autoVersion runs the check for bump auto and returns the version to
// write: the smallest valid one when the current version breaks a version
// rule, "" when it already satisfies them.
func autoVersion(cmd *cobra.Command, dir string, f *checkFlags) (string, *release.Report, error) {
	rep, err := runCheck(cmd, dir, f)
	if err != nil {
		return "", nil, err
	}
	if versionProblem(rep) {
		return rep.Suggested, rep, nil
	}
	return "", rep, nil
}

// versionProblem reports whether the chart's version breaks a version rule (a new version
// fixes it).
func versionProblem(rep *release.Report) bool {
	for _, p := range rep.Problems {
		if p.Level == release.LevelError && isVersionRule(p.Rule) {
			return true
		}
	}
	return false
}

func isVersionRule(rule string) bool {
	switch rule {
	case release.RuleVersionNotGreater, release.RuleVersionUnchanged, release.RuleBumpTooSmall,
		release.RuleAppVersionWithoutBump, release.RuleVersionNotSemVer:
		return true
	}
	return false
}

// bumpAuto runs the check for bump auto. It returns the version to write, or done when
// the version already satisfies the check (after printing so in bump's format).
func bumpAuto(cmd *cobra.Command, dir string, f *checkFlags, output string) (to string, done bool, err error) {
	if cmd.Flags().Changed("app-version") {
		return "", false, usageError{errors.New("bump auto takes no --app-version: set appVersion first, then run bump auto (an appVersion change needs a new version too)")}
	}
	to, rep, err := autoVersion(cmd, dir, f)
	if err != nil {
		return "", false, err
	}
	if to != "" {
		if output != "json" {
			fmt.Fprintf(cmd.ErrOrStderr(), "%d changes since %s require a %s bump\n", len(rep.Changes), termsafe.Text(rep.Baseline), rep.Required)
		}
		return to, false, nil
	}
	w := cmd.OutOrStdout()
	if output == "json" {
		return "", true, writeJSONResult(w, &bumpResult{File: filepath.Join(dir, chart.ChartfileName), Name: rep.Chart, OldVersion: rep.Current, Version: rep.Current})
	}
	fmt.Fprintf(w, "%s %s: already a valid version after %s (required bump: %s)\n", termsafe.Text(rep.Chart), termsafe.Text(rep.Current), termsafe.Text(rep.Baseline), rep.Required)
	return "", true, nil
}
