package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
)

// gcBetween is the filesystem store with a garbage collection's steps run between a Put's
// write and the link that follows it: the interleavings of a push racing a collection that
// a test cannot otherwise time.
type gcBetween struct {
	blob.Store
	afterPut func(d digest.Digest)
}

func (s *gcBetween) Put(ctx context.Context, d digest.Digest, size int64, r io.Reader) (blob.Info, error) {
	info, err := s.Store.Put(ctx, d, size, r)
	if err == nil && s.afterPut != nil {
		s.afterPut(d)
	}
	return info, err
}

// TestPushRacingGCNeverLinksDeletedBytes: a blob nothing links is being collected while a
// push uploads the same bytes. Whichever step of the collection falls between the upload's
// write and its link, the push either succeeds with the blob readable, or is refused with
// ErrUploadUnknown (upload again) and its retry succeeds: it is never linked to bytes the
// collection deleted.
func TestPushRacingGCNeverLinksDeletedBytes(t *testing.T) {
	steps := map[string]func(t *testing.T, db *meta.DB, store blob.Store, d digest.Digest){
		"marked": func(t *testing.T, db *meta.DB, _ blob.Store, d digest.Digest) {
			mustMark(t, db, d)
		},
		"marked and deleted": func(t *testing.T, db *meta.DB, store blob.Store, d digest.Digest) {
			mustMark(t, db, d)
			if err := store.Delete(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		},
		"marked, deleted and its row removed": func(t *testing.T, db *meta.DB, store blob.Store, d digest.Digest) {
			mustMark(t, db, d)
			if err := store.Delete(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			if err := db.RemoveBlobRow(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, step := range steps {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db, err := meta.OpenSQLite(ctx, filepath.Join(dir, "chartroom.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fsStore, err := fs.New(filepath.Join(dir, "blobs"))
			if err != nil {
				t.Fatal(err)
			}
			store := &gcBetween{Store: fsStore}
			r, err := New(ctx, db, store, Options{})
			if err != nil {
				t.Fatal(err)
			}
			data := []byte("garbage pushed again")
			d := digest.FromBytes(data)
			// Garbage: uploaded once, then unlinked (its manifest deleted, collected).
			if _, err := r.PutBlob(ctx, "team/old", d, int64(len(data)), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := db.UnlinkBlob(ctx, "team/old", d); err != nil {
				t.Fatal(err)
			}

			store.afterPut = func(d digest.Digest) { step(t, db, fsStore, d) }
			_, err = r.PutBlob(ctx, "team/new", d, int64(len(data)), bytes.NewReader(data))
			store.afterPut = nil
			switch {
			case err == nil:
				if got := readAll(t, r, "team/new", d); !bytes.Equal(got, data) {
					t.Fatalf("the push succeeded but the blob reads %q", got)
				}
			case errors.Is(err, ErrUploadUnknown):
				// Refused: the collection finishes, the client uploads again.
				if err := r.collectMarked(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := r.PutBlob(ctx, "team/new", d, int64(len(data)), bytes.NewReader(data)); err != nil {
					t.Fatalf("the retry: %v", err)
				}
				if got := readAll(t, r, "team/new", d); !bytes.Equal(got, data) {
					t.Fatalf("after the retry the blob reads %q", got)
				}
			default:
				t.Fatalf("push: %v", err)
			}
		})
	}
}

func mustMark(t *testing.T, db *meta.DB, d digest.Digest) {
	t.Helper()
	if marked, err := db.MarkBlobDeleting(context.Background(), d, 0); err != nil || !marked {
		t.Fatalf("mark: %v %v", marked, err)
	}
}

// collectMarked finishes what a collection marked, as the next run does first.
func (r *Registry) collectMarked(ctx context.Context) error {
	pending, err := r.db.DeletingBlobs(ctx)
	if err != nil {
		return err
	}
	for _, d := range pending {
		if err := r.deleteBlob(ctx, d, -1, &GCReport{}); err != nil {
			return err
		}
	}
	return nil
}

func readAll(t *testing.T, r *Registry, repo string, d digest.Digest) []byte {
	t.Helper()
	rc, _, err := r.OpenBlob(context.Background(), repo, d, 0)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
