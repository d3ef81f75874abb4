package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/staticindex"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newIndexCmd() *cobra.Command {
	var (
		url, merge, output string
		asJSON             bool
		allowMissing       bool
	)
	c := &cobra.Command{
		Use:   "index DIR",
		Short: "Write index.yaml for a directory of chart archives (a static repository)",
		Long: `Write DIR/index.yaml for the chart archives in DIR and its immediate subdirectories,
for a static chart repository (GitHub Pages, a bucket, any file server): the entries,
digests and URLs helm repo index writes, computed on every core.

Each entry's URL is --url joined with the archive's path below DIR; without --url, URLs
are relative to index.yaml. Like helm, created is the time of indexing.

--merge FILE keeps the entries of an existing index that DIR does not have, as helm repo
index --merge does: for a chart version both have, the archive in DIR wins. A missing
FILE is an error (helm merges nothing, and the published index would lose every version
DIR does not hold): fetch the published index.yaml first. On the very first publish, when
there is no index yet, pass --merge-allow-missing.

Archives that are not valid charts are left out, as helm leaves them out, with a warning
naming each. Each archive gets the checks chartroom serve makes of an upload's gzip and
tar streams and entries (no absolute, parent-directory or unclean paths, one top-level
directory, regular files only, each path once, decompressed size limits), so an archive
helm would read despite a link or a Windows path is left out too. Only Chart.yaml (and
requirements.yaml) is read from each archive: unlike helm, an archive whose values.yaml or
subcharts do not load is still indexed (check it with chartroom check or helm lint).

index.yaml is written atomically.` + exitCodesHelp,
		Example: `  chartroom index ./public --url https://example.github.io/charts
  chartroom index ./public --url https://charts.example.com --merge ./old-index.yaml
  chartroom index ./public --merge ./public/index.yaml --merge-allow-missing   # first publish
  chartroom index ./public -o json | jq .versions`,
		Args: oneArg("the directory holding the chart archives"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if allowMissing && merge == "" {
				return usageError{errors.New("--merge-allow-missing applies to --merge FILE: give the index to merge")}
			}
			dir := args[0]
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("index: %w", unwrapPathError(err))
				}
				return fmt.Errorf("index: %s is not a directory: give the directory holding the .tgz archives", dir)
			}
			// A short batch whose live heap is small (the rendered entries) and whose garbage
			// is one archive per worker at a time: collecting less often saves ~10% CPU.
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			ix, err := staticindex.Build(cmd.Context(), dir, staticindex.Options{BaseURL: url, JSON: asJSON})
			if err != nil {
				return err
			}
			if merge != "" {
				old, err := os.ReadFile(merge)
				switch {
				case errors.Is(err, fs.ErrNotExist) && allowMissing:
				case errors.Is(err, fs.ErrNotExist):
					return fmt.Errorf("index: --merge %s: no such file; merging nothing would publish an index without the versions only it lists: download the published index.yaml and pass it, or pass --merge-allow-missing if this is the repository's first publish", merge)
				case err != nil:
					return fmt.Errorf("index: --merge: %w", unwrapPathError(err))
				default:
					if err := ix.Merge(old, merge); err != nil {
						return fmt.Errorf("index: %w", err)
					}
				}
			}
			dest := filepath.Join(dir, "index.yaml")
			err = chart.WriteFileAtomic(cmd.Context(), dest, 0o644, ix.Write)
			if err != nil {
				return fmt.Errorf("index: %w", err)
			}

			res := indexResult{Path: dest, Charts: ix.Charts(), Versions: len(ix.Entries), Archives: ix.Archives,
				Merged: ix.Merged, Skipped: []indexSkip{}, Warnings: ix.Warnings}
			for _, s := range ix.Skipped {
				res.Skipped = append(res.Skipped, indexSkip{Path: s.Path, Reason: s.Err.Error()})
			}
			if output == "json" {
				return writeJSONResult(cmd.OutOrStdout(), res)
			}
			stderr := cmd.ErrOrStderr()
			for _, s := range res.Skipped {
				fmt.Fprintf(stderr, "chartroom: warning: skipped %s: %s\n", termsafe.Text(s.Path), termsafe.Text(s.Reason))
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(stderr, "chartroom: warning: %s\n", termsafe.Text(w))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "indexed %d versions of %d charts → %s (%d archives, %d kept from --merge, %d skipped)\n",
				res.Versions, res.Charts, termsafe.Text(res.Path), res.Archives, res.Merged, len(res.Skipped))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&url, "url", "", "URL of the chart repository; archive URLs are relative to index.yaml without it")
	f.StringVar(&merge, "merge", "", "existing index whose other entries to keep (must exist unless --merge-allow-missing)")
	f.BoolVar(&allowMissing, "merge-allow-missing", false, "with --merge: a missing FILE is an empty index (the repository's first publish)")
	f.BoolVar(&asJSON, "json", false, "write index.yaml in JSON form (as helm repo index --json)")
	addOutputFlag(c, &output)
	return c
}

// indexResult is index's --output json.
type indexResult struct {
	Path string `json:"path"`
	// Charts is the number of chart names, Versions the number of entries.
	Charts   int `json:"charts"`
	Versions int `json:"versions"`
	// Archives is how many entries come from DIR, Merged how many from --merge.
	Archives int         `json:"archives"`
	Merged   int         `json:"merged"`
	Skipped  []indexSkip `json:"skipped"`
	Warnings []string    `json:"warnings,omitempty"`
}

type indexSkip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}
