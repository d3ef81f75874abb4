package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/client"
	"github.com/chartroom/chartroom/internal/importer"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// importFlags are the flags import and mirror share.
type importFlags struct {
	client   clientFlags
	to       string
	parallel int
}

func (f *importFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.to, "to", "", "the destination chartroom namespace, HOST/NAMESPACE (required)")
	fs.IntVar(&f.parallel, "parallel", importer.DefaultParallel, "how many versions to copy at once")
	f.client.register(fs, true, true)
	// The connection flags read as helm's: --username and --password are the source's.
	fs.Lookup("username").Usage = "the source's username (as helm repo add --username); default: the credentials helm repo add stored for the URL"
	fs.Lookup("password").Usage = "the source's password (prefer --password-stdin)"
	fs.Lookup("password-stdin").Usage = "read the source's password from standard input"
	fs.Lookup("plain-http").Usage = "talk to oci:// registries (the destination, an oci:// source) over plain HTTP"
}

const importCredentialsHelp = `
Credentials. The source's: --username with --password-stdin (or --password), as helm
repo add takes them; without them, those helm repo add stored for exactly that URL
(helm's repositories.yaml), else the login stored for its host (chartroom login, helm
registry login, docker login). The destination's, as chartroom push takes them:
CHARTROOM_USERNAME and CHARTROOM_PASSWORD, else the login stored for its host.
--ca-file, --insecure-skip-tls-verify, --cert-file and --key-file apply to both.`

const importSourcesHelp = `
SOURCE is one of
  https://HOST/PATH    a classic chart repository (ChartMuseum, helm-s3 over HTTPS, GitHub
                       Pages of chart-releaser, any static one): its index.yaml is read,
                       chart URLs resolved as helm resolves them (relative ones against the
                       repository URL), every archive downloaded and checked against the
                       index's digest, with its .prov when the server has one (404: none)
  DIRECTORY            a static repository's directory (with index.yaml: its digests and
                       created dates are used, archives found by their URL's path, or file
                       name for absolute URLs), or else a ChartMuseum storage directory:
                       NAME-VERSION.tgz with .prov beside them, dated by their modification
                       time; a subdirectory holding archives is a tenant (ChartMuseum
                       --depth 1) and goes to HOST/NAMESPACE/SUBDIRECTORY
  oci://HOST/NS        every repository directly below NS that the registry's catalog
                       (/v2/_catalog) lists, and every tag that is a chart version, copied
                       manifest and blobs byte for byte (same digests) with the manifests
                       that refer to it (referrers API, or its sha256-<hex> fallback tag) and
                       its cosign tags (sha256-<hex>.sig, .att, .sbom); other tags are skipped

A classic version becomes the artifact helm push makes, its .prov the provenance layer,
dated by the source's created date so the destination's index.yaml reads the same.`

func newImportCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import SOURCE --to HOST/NAMESPACE",
		Short: "Copy every chart version of a repository, directory or OCI namespace into chartroom",
		Long: `Copy every chart version of SOURCE into the chartroom namespace HOST/NAMESPACE, over OCI.
` + importSourcesHelp + `

Resumable and idempotent: a version the destination already holds with the same archive
is "already present" and skipped, so an interrupted import is finished by running it
again. One it holds with other bytes fails ("differs from the destination") and is never
overwritten. --parallel versions are copied at once (default 4).

A progress bar is drawn when standard error is a terminal and CI is unset; otherwise one
line per version. Then the report: imported, already present, failed with why
(-o json: the report as JSON).
` + importCredentialsHelp + `

Exit codes: 0 every version imported or already present, 1 a version failed, 2 usage,
I/O error or the source could not be read.`,
		Example: `  chartroom import https://charts.example.com --to registry.example.com/team -u admin --password-stdin < pass.txt
  chartroom import /var/lib/chartmuseum --to registry.example.com/team
  chartroom import oci://old-registry.example.com/team --to registry.example.com/team -o json`,
		Args: oneArg("the source: a chart repository URL, a directory or oci://HOST/NAMESPACE"),
		RunE: func(c *cobra.Command, args []string) error {
			opts, err := f.options(c, args[0])
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			rep, err := runImport(ctx, c, opts, f.client.output, "import")
			if err != nil {
				return err
			}
			return importOutcome(rep)
		},
	}
	f.register(cmd)
	return cmd
}

func newMirrorCmd() *cobra.Command {
	var (
		f        importFlags
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "mirror SOURCE --to HOST/NAMESPACE [--interval 10m]",
		Short: "Keep a chartroom namespace in sync with a repository, directory or OCI namespace",
		Long: `Copy the chart versions of SOURCE that HOST/NAMESPACE lacks, as chartroom import does,
once, or every --interval until interrupted.
` + importSourcesHelp + `

Pinning: a version the destination already holds is never replaced. When the source now
serves other bytes under it, mirror reports it as "changed at the source": a tamper
alarm, printed, in the JSON report (changedAtSource, status "changed at the source"),
and exit 1 in one-shot mode. With --interval each run prints its report and the next
follows; alarms are repeated on every run until the source is fixed.
` + importCredentialsHelp + `

Exit codes (one-shot): 0 in sync, 1 a version failed or changed at the source, 2 usage,
I/O error or the source could not be read. With --interval: 0 when interrupted.`,
		Example: `  chartroom mirror https://charts.bitnami.com/bitnami --to registry.example.com/bitnami
  chartroom mirror https://example.github.io/charts --to registry.example.com/upstream --interval 10m`,
		Args: oneArg("the source: a chart repository URL, a directory or oci://HOST/NAMESPACE"),
		RunE: func(c *cobra.Command, args []string) error {
			if interval < 0 {
				return usageError{fmt.Errorf("--interval %s: give a positive duration, e.g. 10m", interval)}
			}
			opts, err := f.options(c, args[0])
			if err != nil {
				return err
			}
			opts.Mirror = true
			ctx, stop := interruptible(c)
			defer stop()
			for {
				rep, err := runImport(ctx, c, opts, f.client.output, "mirror")
				if interval == 0 {
					if err != nil {
						return err
					}
					return importOutcome(rep)
				}
				if err != nil {
					fmt.Fprintf(c.ErrOrStderr(), "chartroom: %s\n", termsafe.Text(err.Error()))
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", 0, "run again every interval (e.g. 10m) until interrupted; 0 runs once")
	return cmd
}

// options checks the flags and builds both clients.
func (f *importFlags) options(c *cobra.Command, source string) (importer.Options, error) {
	if err := f.client.checkOutput(); err != nil {
		return importer.Options{}, err
	}
	if f.to == "" {
		return importer.Options{}, usageError{errors.New("--to is required: the destination chartroom namespace, HOST/NAMESPACE (e.g. --to charts.example.com/team)")}
	}
	if f.parallel < 1 {
		return importer.Options{}, usageError{fmt.Errorf("--parallel %d: give at least 1", f.parallel)}
	}
	// The source's credentials: the flags only (the environment's are the destination's).
	src := creds{user: f.client.username, pass: f.client.password}
	if f.client.passwordStdin {
		if src.pass != "" {
			return importer.Options{}, usageError{errors.New("give the password once: --password or --password-stdin")}
		}
		var err error
		if src.pass, err = readPasswordStdin(c.InOrStdin()); err != nil {
			return importer.Options{}, err
		}
	}
	if src.pass != "" && src.user == "" {
		return importer.Options{}, usageError{errors.New("a password without a username: add --username")}
	}
	dst := creds{user: os.Getenv(envUsername), pass: os.Getenv(envPassword)}
	if dst.user != "" {
		dst.source = "the credentials from " + envUsername + " and " + envPassword
	}
	base := f.client
	base.output = "json" // no per-transfer progress bars: import draws its own
	srcClient, err := base.newClient(c, src)
	if err != nil {
		return importer.Options{}, err
	}
	dstClient, err := base.newClient(c, dst)
	if err != nil {
		return importer.Options{}, err
	}
	return importer.Options{Source: source, Destination: f.to, SourceClient: srcClient, DestClient: dstClient, Parallel: f.parallel}, nil
}

// runImport runs one import with progress on standard error and prints its report.
func runImport(ctx context.Context, c *cobra.Command, opts importer.Options, output, verb string) (*importer.Report, error) {
	p := newImportProgress(c.ErrOrStderr(), verb)
	opts.Listed, opts.Done = p.listed, p.done
	rep, err := importer.Run(ctx, opts)
	p.finish()
	if err != nil {
		return nil, usageError{err}
	}
	if rep.Error != "" && rep.Imported+rep.AlreadyPresent+rep.Failed+rep.Changed == 0 && ctx.Err() == nil {
		return nil, errors.New(rep.Error)
	}
	out := c.OutOrStdout()
	if output == "json" {
		return rep, writeJSONResult(out, rep)
	}
	fmt.Fprintf(out, "%s %s → %s\n", verb, termsafe.Text(rep.Source), termsafe.Text(rep.Destination))
	fmt.Fprintf(out, "Imported: %d\nAlready present: %d\nFailed: %d\n", rep.Imported, rep.AlreadyPresent, rep.Failed)
	for _, v := range rep.Versions {
		if v.Status == importer.Failed {
			fmt.Fprintf(out, "  %s %s: %s\n", termsafe.Text(v.Name), termsafe.Text(v.Version), termsafe.Text(v.Why))
		}
	}
	if opts.Mirror {
		fmt.Fprintf(out, "Changed at the source: %d\n", rep.Changed)
		for _, v := range rep.Versions {
			if v.Status == importer.Changed {
				fmt.Fprintf(out, "  %s %s: %s\n", termsafe.Text(v.Name), termsafe.Text(v.Version), termsafe.Text(v.Why))
			}
		}
	}
	if rep.Error != "" {
		fmt.Fprintf(out, "Stopped: %s\n", termsafe.Text(rep.Error))
	}
	return rep, nil
}

// importOutcome is the exit of a one-shot run: 1 when anything failed or changed.
func importOutcome(rep *importer.Report) error {
	if rep.OK() {
		return nil
	}
	var parts []string
	if rep.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", rep.Failed))
	}
	if rep.Changed > 0 {
		parts = append(parts, fmt.Sprintf("%d changed at the source (the destination kept what it had)", rep.Changed))
	}
	if rep.Error != "" {
		parts = append(parts, rep.Error)
	}
	return &CheckFailedError{Err: fmt.Errorf("%d of %d versions not copied: %s", rep.Failed+rep.Changed, len(rep.Versions), strings.Join(parts, "; "))}
}

// importProgress shows a run's progress on standard error: a bar on a terminal, one line
// per version otherwise.
type importProgress struct {
	w    io.Writer
	bar  bool
	verb string

	mu                                   sync.Mutex
	total, count, imported, present, bad int
	drawn                                time.Time
}

func newImportProgress(w io.Writer, verb string) *importProgress {
	return &importProgress{w: w, bar: client.ProgressWriter(w) != nil, verb: verb}
}

func (p *importProgress) listed(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	if !p.bar {
		fmt.Fprintf(p.w, "%s: %d versions listed\n", p.verb, total)
		return
	}
	p.draw()
}

func (p *importProgress) done(r importer.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	switch r.Status {
	case importer.Imported:
		p.imported++
	case importer.AlreadyPresent:
		p.present++
	default:
		p.bad++
	}
	line := fmt.Sprintf("%s %s %s", r.Status, termsafe.Text(r.Name), termsafe.Text(r.Version))
	if r.Why != "" {
		line += ": " + termsafe.Text(r.Why)
	}
	if !p.bar {
		fmt.Fprintln(p.w, line)
		return
	}
	if r.Why != "" {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", line)
		p.draw()
		return
	}
	if time.Since(p.drawn) >= 100*time.Millisecond || p.count == p.total {
		p.draw()
	}
}

// draw redraws the bar line.
func (p *importProgress) draw() {
	p.drawn = time.Now()
	const width = 30
	filled := width
	if p.total > 0 {
		filled = p.count * width / p.total
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d  imported %d, already present %d, failed %d\x1b[K",
		p.verb, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.count, p.total, p.imported, p.present, p.bad)
}

func (p *importProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar && p.total > 0 {
		p.draw()
		fmt.Fprintln(p.w)
	}
}
