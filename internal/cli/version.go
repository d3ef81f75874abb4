package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what a build knows of itself; `chartroom version` and `chartroom --version`
// print it in one format.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the source revision, "" when unknown; Modified tells that the work tree
	// had uncommitted changes.
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readBuildInfo reads the version and commit set at link time (Version, Commit), else those
// go build and go install recorded in the binary (the module version, vcs.revision).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Commit: Commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return orDev(b)
	}
	if b.Version == "dev" || b.Version == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
	}
	if b.Commit == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	return orDev(b)
}

func orDev(b buildInfo) buildInfo {
	if b.Version == "" {
		b.Version = "dev"
	}
	return b
}

// buildVersion is the version of this build, as the User-Agent names it.
func buildVersion() string { return readBuildInfo().Version }

// versionLine is the one-line form: "chartroom v1.2.3 (commit 3eaa665…, go1.24.1, linux/amd64)".
func versionLine(b buildInfo) string {
	commit := "commit unknown"
	if b.Commit != "" {
		commit = "commit " + b.Commit
		if b.Modified {
			commit += " with local changes"
		}
	}
	return fmt.Sprintf("chartroom %s (%s, %s, %s)", b.Version, commit, b.Go, b.Platform)
}

func newVersionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print the chartroom version and commit",
		Long: `Print the version and the source commit of this chartroom build, the Go version and
the platform, as chartroom --version does; -o json prints them as a JSON object.`,
		Example: "  chartroom version\n  chartroom version -o json | jq -r .commit",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			b := readBuildInfo()
			if output == "json" {
				return writeJSONResult(c.OutOrStdout(), b)
			}
			_, err := fmt.Fprintln(c.OutOrStdout(), versionLine(b))
			return err
		},
	}
	addOutputFlag(c, &output)
	return c
}
