package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/publish"
	"github.com/chartroom/chartroom/internal/termsafe"
)

func newPublishCmd() *cobra.Command {
	var (
		reindex bool
		output  string
	)
	c := &cobra.Command{
		Use:   "publish ARCHIVE... s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&path-style=true]",
		Short: "Publish chart archives to a static chart repository in an S3 bucket",
		Long: `Publish chart archives to a static chart repository kept in a plain S3 bucket (AWS S3
or any S3-compatible service), which helm reads through the bucket's own URL:
helm repo add NAME https://BUCKET-URL/PREFIX. It does what helm s3 push does, safely
when several publishers run at once.

Each archive (named <name>-<version>.tgz, as helm package names it) is written to
PREFIX/<name>-<version>.tgz, with ARCHIVE.prov beside it when that file exists, and its
entry is added to PREFIX/index.yaml (created on the first publish). Every write is
conditional: an archive only where no object is, the index only if it is still the one
read (If-Match on its ETag, If-None-Match: * for the first). A publisher that finds the
index changed by another reads it again and retries after a short random wait, so
concurrent publishers never lose each other's entries.

Published versions are immutable. A version the index lists with the same digest is
reported as already published (exit 0); one it lists with other bytes, or whose key in
the bucket holds other bytes, is refused and nothing changes.

The index is the one chartroom index writes: URLs relative to index.yaml, entries from
each archive's Chart.yaml. --reindex rebuilds it from the archives in the bucket
(PREFIX/*.tgz and PREFIX/*/*.tgz), byte for byte what chartroom index writes for a
directory holding them; entries without an archive in the bucket are dropped.

Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN),
the region from region= or AWS_REGION / AWS_DEFAULT_REGION (default us-east-1). The bucket
URL takes the parameters of serve --storage: endpoint= for a service other than AWS S3,
path-style=true for most S3-compatible services.` + exitCodesHelp,
		Example: `  chartroom publish web-1.2.0.tgz s3://my-charts/stable
  chartroom publish dist/*.tgz 's3://charts/stable?endpoint=https://minio.example.com&path-style=true'
  chartroom publish --reindex s3://my-charts/stable
  helm repo add stable https://my-charts.s3.eu-west-1.amazonaws.com/stable`,
		Args: func(c *cobra.Command, args []string) error {
			switch {
			case reindex && len(args) != 1:
				return usageError{fmt.Errorf("publish --reindex takes one argument, the bucket URL s3://BUCKET[/PREFIX]; got %d (see %s --help)", len(args), c.CommandPath())}
			case !reindex && len(args) < 2:
				return usageError{fmt.Errorf("publish takes the chart archives, then the bucket URL s3://BUCKET[/PREFIX]; got %d arguments (see %s --help)", len(args), c.CommandPath())}
			case !strings.HasPrefix(args[len(args)-1], "s3://"):
				return usageError{fmt.Errorf("publish: the last argument, %q, is not a bucket URL: give s3://BUCKET[/PREFIX] after the archives", args[len(args)-1])}
			}
			for _, a := range args[:len(args)-1] {
				if strings.HasPrefix(a, "s3://") {
					return usageError{fmt.Errorf("publish: %q: give one bucket URL, last", a)}
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			cfg, err := blobs3.ParseURL(args[len(args)-1])
			if err != nil {
				return usageError{fmt.Errorf("publish: %w", err)}
			}
			b, err := publish.Open(cfg.FromEnv(blobs3.Environ), publish.Options{})
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if reindex {
				res, err := b.Reindex(cmd.Context())
				if err != nil {
					return fmt.Errorf("publish --reindex: %w", err)
				}
				skipped := []indexSkip{}
				for _, s := range res.Skipped {
					skipped = append(skipped, indexSkip{Path: s.Path, Reason: s.Err.Error()})
				}
				if output == "json" {
					return writeJSONResult(out, reindexResult{ReindexResult: res, Skipped: skipped})
				}
				for _, s := range skipped {
					fmt.Fprintf(stderr, "chartroom: warning: skipped %s: %s\n", termsafe.Text(s.Path), termsafe.Text(s.Reason))
				}
				fmt.Fprintf(out, "indexed %d versions of %d charts → %s (%d skipped)\n", res.Versions, res.Charts, res.Index, len(skipped))
				return nil
			}
			res, err := b.Publish(cmd.Context(), args[:len(args)-1])
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			if output == "json" {
				return writeJSONResult(out, res)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(stderr, "chartroom: warning: %s\n", termsafe.Text(w))
			}
			for _, ch := range res.Charts {
				prov := ""
				if ch.Prov {
					prov = " (+ .prov)"
				}
				if ch.Status == publish.AlreadyPublished {
					fmt.Fprintf(out, "%s %s is already published with the same bytes: %s%s\n", termsafe.Text(ch.Name), termsafe.Text(ch.Version), ch.URL, prov)
					continue
				}
				fmt.Fprintf(out, "published %s %s → %s%s\n", termsafe.Text(ch.Name), termsafe.Text(ch.Version), ch.URL, prov)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&reindex, "reindex", false, "rebuild the bucket's index.yaml from the archives in it")
	addOutputFlag(c, &output)
	return c
}

// reindexResult is publish --reindex's --output json.
type reindexResult struct {
	*publish.ReindexResult
	Skipped []indexSkip `json:"skipped"`
}
