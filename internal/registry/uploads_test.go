package registry

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob/blobtest"
)

// TestUploadSessionLimits: a user may hold MaxUploadsPerUser sessions open, finishing or
// cancelling one frees its place, other users have their own, sessions idle longer than the
// expiry go (and free their places), and open sessions survive a restart, still counted.
func TestUploadSessionLimits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := blobtest.NewClock(time.Date(2031, 1, 2, 3, 0, 0, 0, time.UTC))
	opts := Options{MaxUploadsPerUser: 3, UploadExpiry: 24 * time.Hour}
	r := openRegistry(t, dir, clock, opts)
	const repo = "team/app"
	start := func(user string) (string, error) {
		t.Helper()
		return r.StartUpload(ctx, repo, user)
	}
	mustStart := func(user string) string {
		t.Helper()
		id, err := start(user)
		if err != nil {
			t.Fatalf("start upload for %s: %v", user, err)
		}
		return id
	}
	full := func(user string) {
		t.Helper()
		_, err := start(user)
		if !errors.Is(err, ErrTooManyUploads) {
			t.Fatalf("upload beyond the limit for %s: %v, want ErrTooManyUploads", user, err)
		}
		for _, want := range []string{user, "3 upload sessions open", "24h0m0s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}

	old := mustStart("alice")
	clock.Advance(20 * time.Hour)
	finished := mustStart("alice")
	cancelled := mustStart("alice")
	full("alice")
	bob := mustStart("bob") // bob has places of his own

	content := []byte("layer")
	if _, err := r.FinishUpload(ctx, repo, finished, digest.FromBytes(content), -1, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	kept := mustStart("alice") // the finished session's place
	full("alice")
	if err := r.CancelUpload(ctx, repo, cancelled); err != nil {
		t.Fatal(err)
	}
	mustStart("alice") // the cancelled session's place
	full("alice")

	t.Log("a restart keeps the open sessions, and their count")
	r = openRegistry(t, dir, clock, opts)
	full("alice")
	if _, err := r.AppendUpload(ctx, repo, kept, 0, strings.NewReader("abc")); err != nil {
		t.Fatalf("append after restart: %v", err)
	}

	t.Log("sessions idle longer than the expiry go, and free their places")
	clock.Advance(5 * time.Hour) // old: idle 25h; the others: 5h
	if n, err := r.ExpireUploads(ctx); err != nil || n != 1 {
		t.Fatalf("expire: %d %v, want 1", n, err)
	}
	if _, err := r.UploadOffset(ctx, repo, old); !errors.Is(err, ErrUploadUnknown) {
		t.Fatalf("expired session: %v, want ErrUploadUnknown", err)
	}
	for _, id := range []string{kept, bob} {
		if _, err := r.UploadOffset(ctx, repo, id); err != nil {
			t.Fatalf("fresh session %s: %v", id, err)
		}
	}
	mustStart("alice")
	full("alice")

	t.Log("a negative limit is no limit")
	r = openRegistry(t, dir, clock, Options{MaxUploadsPerUser: -1})
	mustStart("alice")
}
