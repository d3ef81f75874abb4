package meta

import (
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestBlobNeedsALink(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	d := digest.FromString("layer")
	if err := db.LinkBlob(ctx, "team/a", d, 5); err != nil {
		t.Fatal(err)
	}
	if size, err := db.Blob(ctx, d); err != nil || size != 5 {
		t.Fatalf("linked blob: %d, %v", size, err)
	}
	if err := db.UnlinkBlob(ctx, "team/a", d); err != nil {
		t.Fatal(err)
	}
	// No repository holds it any more: nothing can be mounted from it.
	if _, err := db.Blob(ctx, d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlinked blob: %v, want ErrNotFound", err)
	}
}
