package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/termsafe"
)

// exitCodesHelp ends the long help of the release toolchain commands.
const exitCodesHelp = "\n\nExit codes: 0 ok, 1 a check failed, 2 usage, input or I/O error."

func newPackageCmd() *cobra.Command {
	var (
		dest, version, appVersion, output string
		sign                              bool
		key                               signingKeyFlags
	)
	c := &cobra.Command{
		Use:   "package DIR",
		Short: "Package a chart directory into a reproducible .tgz archive",
		Long: `Package the chart in DIR into <name>-<version>.tgz, an archive helm v3 and v4 accept,
honouring .helmignore exactly as helm package does.

The archive is reproducible: the same chart gives byte-identical archives on any machine
and at any time (entries sorted, modes 0644, owners 0, every timestamp SOURCE_DATE_EPOCH
when set, else 1970-01-01, a gzip header without time), so its sha256 identifies the
content. Chart.yaml and the other files are stored as they are; --version and
--app-version edit Chart.yaml's values in place, keeping its comments.

Packaging is refused when Chart.lock disagrees with Chart.yaml's dependencies or when
charts/ lacks a locked dependency (run chartroom dependency build). The archive is written
atomically: on any error nothing is left behind.

With --sign, the archive is signed as by chartroom sign, writing <archive>.prov; the key
is unlocked before anything is written.` + exitCodesHelp,
		Example: `  chartroom package ./mychart -d dist
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) chartroom package ./mychart --version 1.4.2 --app-version 2.3.1
  chartroom package ./mychart --sign --key 'Jane Doe' --keyring ~/.gnupg/secring.gpg --passphrase-file pass.txt
  chartroom package ./mychart -o json | jq -r .digest`,
		Args: oneArg("the chart directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if version != "" {
				if _, err := chart.ParseVersion(version); err != nil {
					return usageError{fmt.Errorf("--version: %w", err)}
				}
			}
			mtime, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			dir := args[0]
			if err := checkChartDir("package", dir); err != nil {
				return err
			}
			var signer *signer
			if sign {
				if signer, err = key.load(cmd); err != nil {
					return toolErr(err)
				}
			} else if key.changed(cmd) {
				return usageError{errors.New("--key, --keyring and --passphrase-file need --sign")}
			}
			path, ch, err := chart.PackageToDir(cmd.Context(), dir, dest, chart.PackageOptions{
				Version: version, AppVersion: appVersion, ModTime: mtime,
			})
			if err != nil {
				return toolErr(packageError(dir, err))
			}
			digest, err := fileDigest(path)
			if err != nil {
				return toolErr(err)
			}
			res := packageResult{Path: path, Name: ch.Metadata.Name, Version: ch.Metadata.Version,
				AppVersion: ch.Metadata.AppVersion, Digest: digest}
			if signer != nil {
				sr, err := signer.signFile(cmd, path)
				if err != nil {
					os.Remove(path) // an unsigned archive must not pass for the signed one asked for
					return toolErr(err)
				}
				res.Prov, res.Signer = sr.Prov, sr.Signer
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONResult(out, res)
			}
			fmt.Fprintf(out, "packaged %s %s → %s (sha256:%s)\n", res.Name, res.Version, res.Path, res.Digest)
			if res.Prov != "" {
				fmt.Fprintf(out, "signed by %s → %s\n", termsafe.Text(res.Signer), termsafe.Text(res.Prov))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&dest, "destination", "d", ".", "directory to write the archive to (created if missing)")
	f.StringVar(&version, "version", "", "set the chart's version (strict SemVer, e.g. 1.4.2)")
	f.StringVar(&appVersion, "app-version", "", "set the chart's appVersion")
	f.BoolVar(&sign, "sign", false, "also sign the archive, writing <archive>.prov")
	key.register(c, true)
	addOutputFlag(c, &output)
	return c
}

// packageResult is package's --output json.
type packageResult struct {
	Path       string `json:"path"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
	// Digest is the archive's sha256, hex (as index.yaml's digest).
	Digest string `json:"digest"`
	Prov   string `json:"prov,omitempty"`
	Signer string `json:"signer,omitempty"`
}

// checkChartDir says plainly when dir is not a chart directory.
func checkChartDir(op, dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %s does not exist: give the chart's directory", op, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	case !fi.IsDir():
		if strings.HasSuffix(dir, ".tgz") {
			return fmt.Errorf("%s: %s is an archive, not a chart directory: give the directory holding Chart.yaml", op, dir)
		}
		return fmt.Errorf("%s: %s is not a directory: give the directory holding Chart.yaml", op, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, chart.ChartfileName)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s has no Chart.yaml: give a chart's directory (helm create NAME makes one)", op, dir)
	}
	return nil
}

// packageError words chart's errors for a directory (they are phrased for archives).
func packageError(dir string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "package "+dir+": ")
	msg = strings.Replace(msg, chart.ErrInvalidArchive.Error()+": ", "", 1)
	if strings.HasPrefix(msg, "Chart.yaml") {
		msg = filepath.Join(dir, msg) // Chart.yaml:7: … → mychart/Chart.yaml:7: …
	}
	return &wrappedError{msg: "package " + dir + ": " + msg, err: err}
}

// sourceDateEpoch is the archive timestamp: SOURCE_DATE_EPOCH (reproducible-builds.org)
// when set, else the zero time (1970-01-01).
func sourceDateEpoch() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time in seconds: set it to e.g. $(git log -1 --format=%%ct), or unset it", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// fileDigest is the hex sha256 of a file.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// addOutputFlag adds -o/--output text|json.
func addOutputFlag(c *cobra.Command, p *string) {
	c.Flags().StringVarP(p, "output", "o", "text", "output format: text, or json for scripts")
}

func checkOutputFormat(v string) error {
	if v != "text" && v != "json" {
		return usageError{fmt.Errorf("--output %q: use text or json", v)}
	}
	return nil
}

// writeJSONResult prints v as one JSON document.
func writeJSONResult(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// oneArg is cobra.ExactArgs(1) with a message that names the argument.
func oneArg(what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usageError{fmt.Errorf("%s takes one argument, %s; got %d (see %s --help)", c.Name(), what, len(args), c.CommandPath())}
		}
		return nil
	}
}

// wrappedError has its own one-line message and keeps the cause for errors.Is/As.
type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }

// toolErr makes err's message one line (multi-line messages, e.g. a list of lock file
// differences, become "first; second; …"), keeping it matchable with errors.Is/As.
func toolErr(err error) error {
	if err == nil || !strings.Contains(err.Error(), "\n") {
		return err
	}
	var parts []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "- ")
		if line != "" {
			parts = append(parts, line)
		}
	}
	var failed *CheckFailedError
	if errors.As(err, &failed) {
		return &CheckFailedError{Err: &wrappedError{msg: strings.Join(parts, "; "), err: err}}
	}
	return &wrappedError{msg: strings.Join(parts, "; "), err: err}
}
