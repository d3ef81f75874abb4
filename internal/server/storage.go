package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chartroom/chartroom/internal/blob"
	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	blobs3 "github.com/chartroom/chartroom/internal/blob/s3"
)

// storage is where serve keeps blobs: the filesystem store under the data directory, or an
// S3 bucket (Config.Storage). The database and the spool stay in the data directory either way.
type storage struct {
	// where names it in messages: a directory or an s3:// URL (without credentials).
	where string
	dir   string        // the filesystem store's directory; "" for S3
	s3    *blobs3.Store // nil for the filesystem
}

// blobBackend is a blob store serve can use: the contract, and the writability probe of /readyz.
type blobBackend interface {
	blob.Store
	CheckWritable(ctx context.Context) error
}

// newStorage describes the blob storage of cfg without touching it. Credentials for S3 come
// from cfg, else from the environment (AWS_ACCESS_KEY_ID, …).
func newStorage(cfg Config) (*storage, error) {
	if cfg.Storage == "" {
		dir := filepath.Join(cfg.DataDir, BlobsDir)
		return &storage{where: dir, dir: dir}, nil
	}
	c, err := blobs3.ParseURL(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	c.AccessKeyID, c.SecretAccessKey = cfg.StorageAccessKeyID, cfg.StorageSecretAccessKey
	c = c.FromEnv(os.LookupEnv)
	st, err := blobs3.New(c, blobs3.Options{})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &storage{where: st.String(), s3: st}, nil
}

// hasBlobs reports whether the storage holds a committed blob. For S3 it is the first
// request to the bucket, so it also proves the bucket reachable with these credentials.
func (s *storage) hasBlobs(ctx context.Context) (bool, error) {
	if s.s3 == nil {
		return blobfs.HasBlobs(s.dir)
	}
	has, err := s.s3.HasBlobs(ctx)
	if err != nil {
		return false, fmt.Errorf("%w: check the storage URL (bucket, endpoint, region, path-style), the credentials, and that the bucket exists", err)
	}
	return has, nil
}

// check proves the storage usable before the server opens anything else, so that a wrong
// storage URL or wrong credentials stop the start instead of failing every push later.
func (s *storage) check(ctx context.Context) error {
	if s.s3 == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storageCheckTimeout)
	defer cancel()
	if err := s.s3.CheckAccess(ctx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// storageCheckTimeout bounds the start's check of S3 storage (the SDK retries a few times).
const storageCheckTimeout = 30 * time.Second

// open opens the store for serving (the filesystem store is created on first start and
// its leftover temporary files are removed).
func (s *storage) open() (blobBackend, error) {
	if s.s3 != nil {
		return s.s3, nil
	}
	return blobfs.New(s.dir)
}

// startOver says what to do to really start over with an empty registry on this storage.
func (s *storage) startOver() string {
	if s.s3 != nil {
		return "point --storage at another bucket or prefix (or empty " + s.where + ") first"
	}
	return "move " + s.where + " away first"
}

// fix says what to do when the storage does not take writes ("" for the data directory's
// usual advice).
func (s *storage) fix() string {
	if s.s3 != nil {
		return "check that the bucket exists, that the S3 service answers, and that the credentials may write to " + s.where
	}
	return ""
}
