package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/blob"
	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/fsck"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server"
)

func newBackupCmd() *cobra.Command {
	var output string
	dd := &dataDirFlags{}
	c := &cobra.Command{
		Use:   "backup DEST",
		Short: "Copy a data directory consistently, also while chartroom serve runs",
		Long: `Back up the data directory chartroom serve uses into DEST, a new directory that is itself
a complete data directory (chartroom serve --data-dir DEST serves it).

The database is copied first, as one consistent snapshot (SQLite's VACUUM INTO), then the
blobs. Blobs are content-addressed and never change, and a blob is always stored before the
database records it, so every blob the copied database needs exists when the blobs are
copied: the backup is consistent while the server keeps serving and accepting pushes.
Pushes that land during the copy may add blobs that the copied database does not know
(fsck lists them as orphans; they are harmless). Every blob is verified against its digest
as it is copied; a damaged one stops the backup (run chartroom fsck).

With S3 storage (storage: s3://… in the config file, or CHARTROOM_STORAGE) only the
database is copied: the blobs stay in the bucket, which the object store protects
(versioning, replication). A restore then needs that bucket beside the restored database.

Restore: see "Backup and restore" in the README.` + exitCodesHelp,
		Example: `  chartroom backup --data-dir /var/lib/chartroom /backup/chartroom-$(date +%F)
  chartroom backup --config /etc/chartroom.yaml /backup/chartroom-$(date +%F) -o json`,
		Args: oneArg("the destination directory (new, or empty)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			dir, err := dd.resolve(cmd)
			if err != nil {
				return err
			}
			res, err := backup(cmd.Context(), dir, args[0], dd.serve.cfg.Storage)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONResult(out, res)
			}
			fmt.Fprintf(out, "database  %s (%s)\n", res.Database, fsck.FormatBytes(res.DatabaseBytes))
			if res.BlobsIn != "" {
				fmt.Fprintf(out, "blobs     not copied: they stay in %s (protect the bucket with versioning or replication)\n", res.BlobsIn)
			} else {
				fmt.Fprintf(out, "blobs     %d copied and verified (%s)\n", res.Blobs, fsck.FormatBytes(res.BlobBytes))
			}
			fmt.Fprintf(out, "backed up %s to %s\n", dir, res.Destination)
			return nil
		},
	}
	dd.register(c)
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text, or json for scripts")
	c.Flags().SortFlags = false
	return c
}

// backupResult is what a backup copied.
type backupResult struct {
	Destination   string `json:"destination"`
	Database      string `json:"database"`
	DatabaseBytes int64  `json:"databaseBytes"`
	Blobs         int    `json:"blobs"`
	BlobBytes     int64  `json:"blobBytes"`
	// BlobsIn is the S3 storage the blobs stay in, not copied; "" when they were copied.
	BlobsIn string `json:"blobsIn,omitempty"`
}

// backup copies the data directory dir to the new directory dest: the database first, then
// the blobs, unless they are kept in S3 storage (s3Storage, the storage URL; "" for the
// filesystem). On failure it removes what it wrote.
func backup(ctx context.Context, dir, dest, s3Storage string) (_ *backupResult, err error) {
	fail := func(err error) error { return fmt.Errorf("backup %s to %s: %w", dir, dest, err) }
	created, err := prepareDest(dest)
	if err != nil {
		return nil, fail(err)
	}
	res := &backupResult{Destination: dest, Database: filepath.Join(dest, server.DatabaseFile)}
	defer func() {
		if err == nil {
			return
		}
		os.RemoveAll(res.Database)
		os.RemoveAll(filepath.Join(dest, server.BlobsDir))
		if created {
			os.Remove(dest)
		}
		err = fmt.Errorf("%w; nothing was kept at %s", err, dest)
	}()

	srcPath := filepath.Join(dir, server.DatabaseFile)
	db, err := meta.OpenSQLiteExisting(ctx, srcPath, true)
	if errors.Is(err, meta.ErrNoDatabase) || errors.Is(err, meta.ErrCorrupt) {
		return nil, fail(fmt.Errorf("%w: run chartroom fsck --data-dir %s", err, dir))
	}
	if err != nil {
		return nil, fail(err)
	}
	err = db.BackupTo(ctx, res.Database)
	db.Close()
	if err != nil {
		return nil, fail(err)
	}
	if fi, err := os.Stat(res.Database); err == nil {
		res.DatabaseBytes = fi.Size()
	}
	if s3Storage != "" {
		res.BlobsIn = redactedStorage(s3Storage)
		return res, nil
	}

	src, err := blobfs.OpenExisting(filepath.Join(dir, server.BlobsDir))
	if errors.Is(err, blob.ErrNotFound) {
		return res, nil // no blob was ever stored
	}
	if err != nil {
		return nil, fail(err)
	}
	dst, err := blobfs.New(filepath.Join(dest, server.BlobsDir))
	if err != nil {
		return nil, fail(err)
	}
	err = src.Walk(ctx, func(e blobfs.Entry) error {
		if e.Digest == "" || !e.Regular {
			return nil // not a blob: fsck reports it
		}
		rc, err := src.Open(ctx, e.Digest, 0)
		if errors.Is(err, blob.ErrNotFound) {
			return nil // removed since the walk listed it: no database can need it
		}
		if err != nil {
			return err
		}
		defer rc.Close()
		info, err := dst.Put(ctx, e.Digest, -1, rc)
		if errors.Is(err, blob.ErrDigestMismatch) {
			return fmt.Errorf("blob %s is damaged (%w): run chartroom fsck --data-dir %s (--repair moves it aside), then back up again", e.Digest, err, dir)
		}
		if err != nil {
			return err
		}
		res.Blobs++
		res.BlobBytes += info.Size
		return nil
	})
	if err != nil {
		return nil, fail(err)
	}
	return res, nil
}

// prepareDest creates dest, or accepts it if it is an empty directory. It reports whether it
// created it.
func prepareDest(dest string) (bool, error) {
	f, err := os.Open(dest)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dest, 0o750); err != nil {
			return false, err
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); !errors.Is(err, io.EOF) {
		if err == nil {
			return false, fmt.Errorf("the destination exists and is not empty: choose a new directory")
		}
		return false, err
	}
	return false, nil
}
