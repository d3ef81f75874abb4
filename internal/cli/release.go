package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// releaseFlags are release's options.
type releaseFlags struct {
	to         string
	bump       string
	appVersion string
	dryRun     bool
	key        signingKeyFlags
	cosignKey  string
	rules      checkFlags
	client     clientFlags
}

// releaseBumps are --bump's values.
var releaseBumps = []string{"auto", "major", "minor", "patch"}

func newReleaseCmd() *cobra.Command {
	var f releaseFlags
	cmd := &cobra.Command{
		Use:   "release [CHART_DIR…] --to oci://HOST/NAMESPACE|https://HOST/NAMESPACE",
		Short: "Publish the charts that changed: check, bump, lock --check, package, sign, push, verify",
		Long: `Release each chart directory (default: the current directory) to --to, a chart
repository's CI in one command that can be run again and again:

  check    compare the chart with its last published version in --to (as chartroom
           check does); a chart whose content is the same (a change only in comments or
           formatting of Chart.yaml, values.yaml or values.schema.json is no change) is
           already published: nothing is pushed
  bump     a changed chart needs a new version: the one in Chart.yaml when it is enough,
           else --bump auto (the smallest valid one), major, minor or patch (from the
           published version); without --bump the release fails with the version to use.
           The new version (and --app-version) is written into CHART_DIR/Chart.yaml, as
           chartroom bump does (comments kept): commit it after the release
  lock     Chart.lock must match Chart.yaml (chartroom lock --check; nothing contacted)
  package  the reproducible archive (SOURCE_DATE_EPOCH, else 1970-01-01), in a
           temporary directory: the working tree gets no .tgz
  sign     with --key/--keyring, the .prov (as chartroom sign), before anything is pushed:
           archive and .prov arrive together, so no reader sees the version unsigned
  push     to --to (as chartroom push)
  cosign   with --cosign-key (oci:// only), the cosign signature of the pushed manifest
           (as chartroom sign oci://…; COSIGN_PASSWORD unlocks the key)
  verify   pull the version back: same digest, a .prov valid for the signing key, a
           cosign signature valid for the cosign key

Given several charts, dependencies (file:// between the given charts) are released before
their dependents. The first failure stops the release: what was published stays
published, and running the same command again finishes the job. A version already
published with the same content is reported "already published"; when it lacks a
signature asked for (published without --key, or a run stopped between push and cosign
sign), the signature is added: the .prov of the published archive through chartroom's
POST /api/NAMESPACE/prov, the cosign signature as always, instead of failing on a
version that never changes.

--dry-run runs the checks and packages to a temporary directory, and says what it would
write, push and sign: it changes no file and nothing in the registry.

Credentials as for chartroom push (--username with --password-stdin, CHARTROOM_USERNAME
and CHARTROOM_PASSWORD, or a stored login).

Exit codes: 0 released or already published, 1 a check failed (a changed chart without a
new version, a broken release rule, Chart.lock out of sync, a verification failed),
2 usage, I/O, authentication or registry error.`,
		Example: `  chartroom release charts/* --to oci://charts.example.com/team --key 'CI Signer' --keyring secring.gpg
  chartroom release ./mychart --to https://charts.example.com/team --bump auto --app-version "$IMAGE_TAG"
  chartroom release charts/* --to oci://localhost:8080/team --plain-http --dry-run
  chartroom release charts/* --to oci://charts.example.com/team -o json`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return runRelease(c, args, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "where to publish: oci://HOST/NAMESPACE, or https://HOST/NAMESPACE (http:// for a plain-HTTP server) (required)")
	fl.StringVar(&f.bump, "bump", "", "when a changed chart's version is not enough: auto (the smallest valid version), major, minor or patch; default: fail with the version to use")
	fl.StringVar(&f.appVersion, "app-version", "", "set appVersion (e.g. the image tag) before comparing and releasing")
	fl.BoolVar(&f.dryRun, "dry-run", false, "show every step; write no file and publish nothing")
	fl.StringVar(&f.cosignKey, "cosign-key", "", "also sign the pushed OCI manifest with this cosign private key (COSIGN_PASSWORD unlocks it)")
	f.key.register(cmd, false)
	f.rules.registerRules(fl)
	f.client.register(fl, true, true)
	return cmd
}

// releaseSignature is a signature a released chart carries.
type releaseSignature struct {
	// Kind is "prov" (a .prov file) or "cosign".
	Kind        string `json:"kind"`
	Signer      string `json:"signer"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Added tells that this run added it (to a new or an already published version).
	Added bool `json:"added"`
}

// Release statuses.
const (
	statusReleased       = "released"
	statusPublished      = "already published"
	statusSignatureAdded = "already published, signature added"
	statusWouldRelease   = "would release"
	statusWouldSign      = "already published, would add the signature"
	statusFailed         = "failed"
)

// releaseResult is one chart's release, and release's --output json entry.
type releaseResult struct {
	Dir     string `json:"dir"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Status  string `json:"status"`
	// Digest is the archive's "sha256:<hex>"; ManifestDigest the OCI manifest's.
	Digest         string             `json:"digest,omitempty"`
	ManifestDigest string             `json:"manifestDigest,omitempty"`
	Where          string             `json:"where,omitempty"`
	Signatures     []releaseSignature `json:"signatures"`
	// Steps say what was done (or, with --dry-run, would be), in order.
	Steps []string `json:"steps"`
	Error string   `json:"error,omitempty"`
}

// releaseOutput is release's --output json.
type releaseOutput struct {
	To       string           `json:"to"`
	DryRun   bool             `json:"dryRun"`
	Releases []*releaseResult `json:"releases"`
}

func runRelease(c *cobra.Command, dirs []string, f *releaseFlags) error {
	if err := f.client.checkOutput(); err != nil {
		return err
	}
	if f.to == "" {
		return usageError{errors.New("--to is required: say where to publish, oci://HOST/NAMESPACE or https://HOST/NAMESPACE")}
	}
	if !isRegistryURL(f.to) {
		return usageError{fmt.Errorf("--to %q: write oci://HOST/NAMESPACE or https://HOST/NAMESPACE", f.to)}
	}
	if f.bump != "" && !slices.Contains(releaseBumps, f.bump) {
		return usageError{fmt.Errorf("--bump %q: use auto, major, minor or patch", f.bump)}
	}
	if c.Flags().Changed("app-version") && f.appVersion == "" {
		return usageError{errors.New("--app-version is empty: give the application's version, e.g. the image tag")}
	}
	r, err := newReleaser(c, f)
	if err != nil {
		return err
	}
	defer r.close()
	order, err := releaseOrder(c.Context(), dirs)
	if err != nil {
		return err
	}
	out := releaseOutput{To: f.to, DryRun: f.dryRun, Releases: []*releaseResult{}}
	var failed error
	for _, dir := range order {
		res := &releaseResult{Dir: dir, Signatures: []releaseSignature{}, Steps: []string{}}
		out.Releases = append(out.Releases, res)
		if err := r.release(dir, res); err != nil {
			res.Status, res.Error = statusFailed, termsafe.Text(oneLine(toolErr(err)))
			failed = err
			break
		}
		if f.client.output != "json" {
			printReleaseLine(c.OutOrStdout(), res)
		}
	}
	if f.client.output == "json" {
		if err := writeJSONResult(c.OutOrStdout(), out); err != nil {
			return err
		}
	}
	return toolErr(failed)
}

// printReleaseLine is a chart's line in the text summary.
func printReleaseLine(w io.Writer, res *releaseResult) {
	var sigs []string
	for _, s := range res.Signatures {
		sigs = append(sigs, s.Kind+" by "+termsafe.Text(s.Signer))
	}
	sig := "unsigned"
	if len(sigs) > 0 {
		sig = "signed: " + strings.Join(sigs, ", ")
	}
	where := res.Where
	if res.ManifestDigest != "" {
		where += "@" + res.ManifestDigest
	}
	fmt.Fprintf(w, "%s %s: %s; %s; %s; %s\n", termsafe.Text(res.Name), termsafe.Text(res.Version), res.Status, res.Digest, termsafe.Text(where), sig)
}

// step records and prints (on stderr, in text output) one step of a chart's release.
func (r *releaser) step(res *releaseResult, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if r.f.dryRun && !strings.HasPrefix(msg, "check") {
		msg = "(dry run) " + msg
	}
	res.Steps = append(res.Steps, msg)
	if r.f.client.output != "json" {
		fmt.Fprintf(r.c.ErrOrStderr(), "%s: %s\n", termsafe.Text(res.Name), termsafe.Text(msg))
	}
}

// releaseTemp is a temporary directory for a release's downloads and archives.
func releaseTemp() (string, func(), error) {
	tmp, err := os.MkdirTemp("", "chartroom-release-")
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// chartRefIn is chart name in the namespace to names (oci://HOST/NS or https://HOST/NS).
func chartRefIn(cl *client.Client, to, name string) (client.ChartRef, error) {
	args := []string{to, name}
	if strings.HasPrefix(to, "oci://") {
		args = []string{strings.TrimSuffix(to, "/") + "/" + name}
	}
	ref, err := cl.ParseChartRef(args, "")
	if err != nil {
		return client.ChartRef{}, usageError{fmt.Errorf("--to: %w", err)}
	}
	return ref, nil
}
