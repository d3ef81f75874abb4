package fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
)

func TestWalkAndHasBlobs(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if has, err := HasBlobs(filepath.Join(root, "nowhere")); err != nil || has {
		t.Fatalf("HasBlobs of a missing store = %v, %v", has, err)
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if has, err := HasBlobs(root); err != nil || has {
		t.Fatalf("HasBlobs of an empty store = %v, %v", has, err)
	}
	content := []byte("a blob")
	d := digest.FromBytes(content)
	if _, err := s.Put(ctx, d, -1, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if has, err := HasBlobs(root); err != nil || !has {
		t.Fatalf("HasBlobs of a store with a blob = %v, %v", has, err)
	}
	// Stray entries: a file at the wrong prefix, a name that is no digest, a directory where a
	// blob belongs.
	wrong := digest.FromString("elsewhere")
	stray := []string{
		filepath.Join(root, "blobs", "sha256", "00", wrong.Encoded()),
		filepath.Join(root, "blobs", "sha256", "ab", "notes.txt"),
		filepath.Join(root, "blobs", "README"),
	}
	for _, p := range stray {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	dirBlob := filepath.Join(root, "blobs", "sha256", wrong.Encoded()[:2], wrong.Encoded())
	os.MkdirAll(filepath.Join(dirBlob, "inside"), 0o755)

	var blobs, strays []string
	err = s.Walk(ctx, func(e Entry) error {
		if e.Digest != "" && e.Regular {
			blobs = append(blobs, e.Digest.String())
		} else {
			strays = append(strays, e.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 1 || blobs[0] != d.String() {
		t.Errorf("blobs = %v; want %s", blobs, d)
	}
	if len(strays) != 4 {
		t.Errorf("strays = %v; want %v and %s", strays, stray, dirBlob)
	}
}

func TestQuarantine(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := New(root)
	content := []byte("intact content")
	d := digest.FromBytes(content)
	s.Put(ctx, d, -1, bytes.NewReader(content))
	lost := filepath.Join(root, "lost+found")
	if _, err := s.Quarantine(ctx, d, lost); !errors.Is(err, ErrIntact) {
		t.Fatalf("quarantine of an intact blob: %v, want ErrIntact", err)
	}
	p, _ := s.path(d)
	os.WriteFile(p, []byte("damaged"), 0o644)
	dest, err := s.Quarantine(ctx, d, lost)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "damaged" || !strings.HasPrefix(filepath.Base(dest), "sha256-") {
		t.Errorf("quarantined %s holds %q", dest, got)
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the damaged blob is still in the store: %v", err)
	}
	// Damaged again (say, restored from a damaged copy): the second one does not overwrite the first.
	s.Put(ctx, d, -1, bytes.NewReader(content))
	os.WriteFile(p, []byte("damaged twice"), 0o644)
	dest2, err := s.Quarantine(ctx, d, lost)
	if err != nil || dest2 == dest {
		t.Fatalf("second quarantine: %s, %v", dest2, err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "damaged" {
		t.Error("the second quarantine overwrote the first")
	}
}

func TestLeftovers(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := New(root)
	os.WriteFile(filepath.Join(root, "tmp", "put-1"), []byte("half"), 0o600)
	if err := s.CreateUpload(ctx, "up1", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendUpload(ctx, "up1", 0, strings.NewReader("12345")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "uploads", "broken"), 0o755)

	// OpenExisting cleans nothing, unlike New.
	s2, err := OpenExisting(root)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := s2.Leftovers()
	if err != nil || len(ls) != 3 {
		t.Fatalf("leftovers = %+v, %v", ls, err)
	}
	byName := map[string]Leftover{}
	for _, l := range ls {
		byName[filepath.Base(l.Path)] = l
	}
	if l := byName["up1"]; l.Kind != LeftoverUpload || l.Size != 5 || l.Broken {
		t.Errorf("up1 = %+v", l)
	}
	if l := byName["broken"]; !l.Broken {
		t.Errorf("broken = %+v", l)
	}
	if l := byName["put-1"]; l.Kind != LeftoverTemp || l.Size != 4 {
		t.Errorf("put-1 = %+v", l)
	}
	for _, l := range ls {
		if err := s2.RemoveLeftover(l); err != nil {
			t.Fatal(err)
		}
	}
	if ls, _ := s2.Leftovers(); len(ls) != 0 {
		t.Errorf("after removal: %+v", ls)
	}
	outside := Leftover{Kind: LeftoverTemp, Path: filepath.Join(root, "blobs")}
	if err := s2.RemoveLeftover(outside); err == nil {
		t.Error("RemoveLeftover removed something that is no leftover")
	}
	if _, err := OpenExisting(filepath.Join(root, "nope")); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("OpenExisting of a missing directory: %v", err)
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	s, _ := New(t.TempDir())
	content := []byte("verified content")
	d := digest.FromBytes(content)
	s.Put(ctx, d, -1, bytes.NewReader(content))
	if n, err := blob.Verify(ctx, s, d); err != nil || n != int64(len(content)) {
		t.Fatalf("Verify of an intact blob = %d, %v", n, err)
	}
	p, _ := s.path(d)
	os.WriteFile(p, content[:5], 0o644)
	if _, err := blob.Verify(ctx, s, d); !errors.Is(err, blob.ErrDigestMismatch) || !strings.Contains(err.Error(), digest.FromBytes(content[:5]).String()) {
		t.Fatalf("Verify of a truncated blob: %v", err)
	}
	if _, err := blob.Verify(ctx, s, digest.FromString("absent")); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Verify of a missing blob: %v", err)
	}
}
