package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
	"github.com/chartroom/chartroom/internal/fsck"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server"
)

// LostFoundDir is the directory of the data directory that fsck --repair moves damaged
// blobs into.
const LostFoundDir = "lost+found"

// maxNotesPerKind bounds the notes of one kind the text output lists; -o json lists all.
const maxNotesPerKind = 10

func newFsckCmd() *cobra.Command {
	var (
		repair     bool
		staleAfter time.Duration
		output     string
	)
	dd := &dataDirFlags{}
	c := &cobra.Command{
		Use:   "fsck",
		Short: "Check a data directory: database against blobs, every blob re-hashed",
		Long: `Check the data directory chartroom serve uses: that every blob the database records is
in the blob store with the right size, that every stored blob still hashes to its digest
(all are read), that manifests match their digests and reference what the database
recorded, that chart versions have their manifest, tag, archive and provenance file, which
blobs nothing links (orphans) and what writes left behind (temporary files, upload
sessions).

It reads the database read-only in one snapshot and writes nothing, so it is safe while
chartroom serve runs on the same directory. Each problem is printed with what it means and
what to do.

--repair fixes only what loses nothing intact: it moves blobs whose bytes no longer match
their digest into <data-dir>/lost+found (never deletes them), removes the database rows of
missing blobs that nothing needs, and removes temporary files and upload sessions untouched
for --stale-after. It never removes a chart version, a manifest, a tag or an orphan blob.

Exit codes: 0 no problems (notes, e.g. orphans, may be listed), 1 problems found
(repaired or not: run fsck again to confirm), 2 could not check.`,
		Example: `  chartroom fsck --data-dir /var/lib/chartroom
  chartroom fsck --config /etc/chartroom.yaml -o json | jq '.findings[] | select(.severity == "problem")'
  chartroom fsck --data-dir /var/lib/chartroom --repair`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if staleAfter <= 0 {
				return usageError{fmt.Errorf("--stale-after %s: expected a duration above 0, such as 24h", staleAfter)}
			}
			dir, err := dd.resolve(cmd)
			if err != nil {
				return err
			}
			if st := dd.serve.cfg.Storage; st != "" {
				return usageError{fmt.Errorf("fsck checks blobs kept on the filesystem (blobs/ of the data directory), but this server keeps them in %s (storage): it would report every blob missing. "+
					"fsck does not check S3 storage yet; rely on the object store's own integrity and versioning for the blobs, and back up the database with chartroom backup", redactedStorage(st))}
			}
			report, err := fsck.Run(cmd.Context(), fsckOptions(dir, repair, staleAfter))
			if err != nil {
				return fmt.Errorf("fsck: %w", err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				if err := writeJSONResult(out, report); err != nil {
					return err
				}
			} else {
				printFsckReport(out, report)
			}
			if report.Problems > 0 {
				return checkFailed("fsck %s: %d problems found (listed in the report); %d findings repaired", dir, report.Problems, report.Repaired)
			}
			return nil
		},
	}
	dd.register(c)
	c.Flags().BoolVar(&repair, "repair", false, "fix what can be fixed without losing intact content (see above)")
	c.Flags().DurationVar(&staleAfter, "stale-after", fsck.DefaultStaleAfter, "a temporary file or upload session untouched this long is abandoned (--repair removes it)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text, or json for scripts")
	c.Flags().SortFlags = false
	return c
}

// fsckOptions lays out a data directory as chartroom serve does.
func fsckOptions(dir string, repair bool, staleAfter time.Duration) fsck.Options {
	return fsck.Options{
		DataDir:    dir,
		Database:   filepath.Join(dir, server.DatabaseFile),
		Blobs:      filepath.Join(dir, server.BlobsDir),
		LostFound:  filepath.Join(dir, LostFoundDir),
		Repair:     repair,
		StaleAfter: staleAfter,
	}
}

// dataDirFlags are --data-dir and --config of the commands that work on serve's data
// directory, resolved exactly as serve resolves them (flag, CHARTROOM_DATA_DIR, the config
// file's data-dir, the default).
type dataDirFlags struct {
	serve      serveOptions
	ss         settings
	configPath string
}

func (d *dataDirFlags) register(c *cobra.Command) {
	d.serve = serveOptions{cfg: server.DefaultConfig()}
	d.ss = d.serve.settings()
	dir := *d.ss.byName("data-dir") // the same setting, described for a command that creates nothing
	dir.usage = "the data directory chartroom serve uses: SQLite database chartroom.db and blob store blobs/"
	settings{&dir}.register(c.Flags())
	c.Flags().StringVar(&d.configPath, "config", "", "chartroom serve's YAML config file, for its data-dir (env CHARTROOM_CONFIG)")
}

func (d *dataDirFlags) resolve(c *cobra.Command) (string, error) {
	path := d.configPath
	if !c.Flags().Changed("config") {
		path, _ = os.LookupEnv("CHARTROOM_CONFIG")
	}
	if err := d.ss.resolve(c.Flags(), os.LookupEnv, path); err != nil {
		return "", usageError{err}
	}
	if db := d.serve.cfg.Database; db != "" {
		return "", fmt.Errorf("chartroom %s works on the SQLite database of a data directory, and this configuration's database is PostgreSQL (%s): "+
			"back PostgreSQL up with pg_dump, and run this command against a SQLite data directory only (README, \"PostgreSQL\")",
			c.Name(), meta.RedactURL(db))
	}
	return d.serve.cfg.DataDir, nil
}

// redactedStorage is a storage URL as messages show it (it never holds credentials:
// server.ValidateStorage refuses them).
func redactedStorage(s string) string {
	if c, err := blobs3.ParseURL(s); err == nil {
		return c.String()
	}
	return s
}

// printFsckReport writes the report for people: the summary per category, then each
// finding with what it means and what to do.
func printFsckReport(w io.Writer, r *fsck.Report) {
	mode := "read-only"
	if r.Repair {
		mode = "repairing"
	}
	fmt.Fprintf(w, "chartroom fsck %s (%s)\n\n", r.DataDir, mode)
	for _, c := range r.Categories {
		fmt.Fprintf(w, "%-10s %s\n", c.Name, c.Summary)
	}
	shown := map[string]int{}
	hidden := map[string]int{}
	var order []string
	for _, f := range r.Findings {
		if f.Severity == fsck.Note {
			if shown[f.Kind] >= maxNotesPerKind {
				if hidden[f.Kind] == 0 {
					order = append(order, f.Kind)
				}
				hidden[f.Kind]++
				continue
			}
			shown[f.Kind]++
		}
		fmt.Fprintf(w, "\n%s %s %s\n", strings.ToUpper(string(f.Severity)), f.Kind, f.Subject)
		fmt.Fprintf(w, "  found:    %s\n", f.Detail)
		fmt.Fprintf(w, "  means:    %s\n", f.Meaning)
		fmt.Fprintf(w, "  do:       %s\n", f.Action)
		if f.Repaired != "" {
			fmt.Fprintf(w, "  repaired: %s\n", f.Repaired)
		}
		if f.RepairFailed != "" {
			fmt.Fprintf(w, "  repair failed: %s\n", f.RepairFailed)
		}
	}
	for _, kind := range order {
		fmt.Fprintf(w, "\n… and %d more %s notes (-o json lists them all)\n", hidden[kind], kind)
	}
	fmt.Fprintln(w)
	switch {
	case r.Problems == 0:
		fmt.Fprintf(w, "no problems found (%d notes)\n", r.Notes)
	case r.Repair:
		fmt.Fprintf(w, "%d problems found (%d notes); %d findings repaired: run chartroom fsck again to see what remains\n", r.Problems, r.Notes, r.Repaired)
	default:
		fmt.Fprintf(w, "%d problems found (%d notes)\n", r.Problems, r.Notes)
	}
}
