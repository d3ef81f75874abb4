package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server"
)

func newGCCmd() *cobra.Command {
	var (
		dryRun bool
		grace  time.Duration
		output string
	)
	dd := &dataDirFlags{}
	c := &cobra.Command{
		Use:   "gc",
		Short: "Remove what nothing needs: unreferenced blobs and manifests, abandoned uploads; apply retention",
		Long: `Run one garbage collection on the data directory (and the blob storage) of chartroom serve,
working directly on its database (the same --data-dir and --config as serve: the SQLite
database of the data directory, or the PostgreSQL database of the config), also while
serve runs, and while other servers share the database and the storage: one collection runs
at a time (a lease in the database), and pushes go on meanwhile.

In order, it:
  1. applies the retention rules of each namespace (chartroom namespace set
     --keep-prereleases, --delete-prereleases-older-than): the prerelease chart versions they
     no longer keep are deleted as a delete by "gc" (tombstones: a version can come back only
     with the same bytes; webhooks told, audit-logged);
  2. removes the manifests nothing needs: untagged, not a live chart version's, not a child
     of a kept index, not a referrer of (nor the subject of) a kept manifest;
  3. removes the blob links of repositories no kept manifest references;
  4. ends upload sessions idle for longer than the grace period;
  5. deletes from the blob store the blobs no repository links.
Only content older than the grace period (--grace) is removed: a push in progress (blobs
uploaded, manifest not yet put) has that long to finish.

--dry-run reports what would be removed and removes nothing.` + exitCodesHelp,
		Example: `  chartroom gc --data-dir /var/lib/chartroom --dry-run
  chartroom gc --config /etc/chartroom.yaml --grace 72h
  chartroom gc --data-dir /var/lib/chartroom -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if cmd.Flags().Changed("grace") && grace <= 0 {
				return usageError{fmt.Errorf("--grace %s: expected a duration above 0, such as 24h", grace)}
			}
			if err := dd.resolveConfig(cmd); err != nil {
				return err
			}
			cfg := dd.serve.cfg
			if !cmd.Flags().Changed("grace") {
				grace = cfg.GCGrace // serve's --gc-grace (flag, env, config file); 0: the default
			}
			ctx := cmd.Context()
			log := newLogger(cmd.ErrOrStderr(), "text", "info")
			reg, closeReg, err := server.OpenRegistry(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer closeReg()
			rep, err := reg.GC(ctx, registry.GCOptions{Grace: grace, DryRun: dryRun})
			if errors.Is(err, meta.ErrGCRunning) {
				return fmt.Errorf("%w: wait for it to finish (a lease that was not released runs out within minutes), then run chartroom gc again", err)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONResult(cmd.OutOrStdout(), rep)
			}
			printGCReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	dd.register(c)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed; remove nothing")
	c.Flags().DurationVar(&grace, "grace", registry.DefaultGCGrace, "remove only what is older than this (default: serve's gc-grace, else 24h)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text, or json for scripts")
	c.Flags().SortFlags = false
	return c
}

// printGCReport writes what a collection removed, for people.
func printGCReport(w io.Writer, r *registry.GCReport) {
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
		fmt.Fprintln(w, "dry run: nothing removed")
	}
	fmt.Fprintf(w, "grace period        %s (only what is older is removed)\n", r.Grace.Round(time.Second))
	fmt.Fprintf(w, "chart versions      %d (retention) %s\n", len(r.Versions), verb)
	for _, v := range r.Versions {
		ns := v.Namespace
		if ns == "" {
			ns = "/"
		}
		fmt.Fprintf(w, "  %s %s %s (%s)\n", ns, v.Name, v.Version, v.Rule)
	}
	fmt.Fprintf(w, "manifests           %d %s\n", r.Manifests, verb)
	fmt.Fprintf(w, "blob links          %d %s\n", r.Links, verb)
	fmt.Fprintf(w, "upload sessions     %d %s\n", r.Uploads, verb)
	fmt.Fprintf(w, "blobs               %d %s, %d bytes\n", r.Blobs, verb, r.Bytes)
	if r.DryRun && r.Links > 0 {
		fmt.Fprintln(w, "(a real run also deletes the blobs whose last links it removes)")
	}
	fmt.Fprintf(w, "took                %s\n", r.Duration.Round(time.Millisecond))
}
