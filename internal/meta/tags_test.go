package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The tag rules hold in the database itself, whatever the caller checked before.

func imagePush(repo, content string, tags ...string) PutManifest {
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"image":%q}`, content))
	return PutManifest{
		Manifest: Manifest{Repository: repo, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Content: body},
		Tags:     tags,
	}
}

func tagOf(t *testing.T, db *DB, repo, tag string) digest.Digest {
	t.Helper()
	m, err := db.GetManifest(context.Background(), repo, tag, true, false)
	if errors.Is(err, ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return m.Digest
}

func wantTagConflict(t *testing.T, err error, says string) {
	t.Helper()
	var conflict *TagConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), says) {
		t.Fatalf("got %v, want a TagConflictError saying %q", err, says)
	}
}

func TestChartManifestCarriesOnlyItsVersionTag(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	p := chartPush("team/myapp", "2.0.0", "two")
	p.Tags = []string{"2.0.0", "1.0.0"}
	_, err := db.PutManifest(ctx, p)
	wantTagConflict(t, err, "only tag is 2.0.0")
	p.Tags = []string{"2.0.0"}
	if _, err := db.PutManifest(ctx, p); err != nil {
		t.Fatal(err)
	}
	// The same manifest pushed as if it were not a chart cannot take another tag either.
	other := p
	other.Chart, other.Tags = nil, []string{"latest"}
	_, err = db.PutManifest(ctx, other)
	wantTagConflict(t, err, "only tag is 2.0.0")
	if d := tagOf(t, db, "team/myapp", "latest"); d != "" {
		t.Fatalf("latest was set to %s", d)
	}
}

func TestDeletedChartVersionReservesItsTag(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	first := chartPush("team/myapp", "1.0.0", "one")
	if _, err := db.PutManifest(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteTag(ctx, "team/myapp", "1.0.0", false, ""); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutManifest(ctx, imagePush("team/myapp", "image", "1.0.0"))
	wantTagConflict(t, err, "reserved")
	// The same chart in a new manifest takes its version back, and with it the tag.
	again := chartPush("team/myapp", "1.0.0", "one")
	again.Manifest.Content = append(again.Manifest.Content, ' ')
	again.Manifest.Digest = digest.FromBytes(again.Manifest.Content)
	if _, err := db.PutManifest(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got := tagOf(t, db, "team/myapp", "1.0.0"); got != again.Manifest.Digest {
		t.Fatalf("1.0.0 names %s, want %s", got, again.Manifest.Digest)
	}
}

func TestImmutableTagRecords(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	const repo = "prod/app"
	a, b := imagePush(repo, "a", "v1"), imagePush(repo, "b", "v1")
	a.ImmutableTags, b.ImmutableTags = true, true
	if _, err := db.PutManifest(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutManifest(ctx, b)
	wantTagConflict(t, err, a.Manifest.Digest.String())
	if err := db.DeleteTag(ctx, repo, "v1", true, ""); err != nil {
		t.Fatal(err)
	}
	_, err = db.PutManifest(ctx, b)
	wantTagConflict(t, err, a.Manifest.Digest.String())
	if _, err := db.PutManifest(ctx, a); err != nil {
		t.Fatalf("the recorded content again: %v", err)
	}
	if err := db.DeleteManifest(ctx, repo, a.Manifest.Digest, true, ""); err != nil {
		t.Fatal(err)
	}
	_, err = db.PutManifest(ctx, b)
	wantTagConflict(t, err, a.Manifest.Digest.String())
	// Without immutability the same tag moves freely.
	c, d := imagePush("dev/app", "c", "v1"), imagePush("dev/app", "d", "v1")
	for _, p := range []PutManifest{c, d} {
		if _, err := db.PutManifest(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := tagOf(t, db, "dev/app", "v1"); got != d.Manifest.Digest {
		t.Fatalf("v1 names %s", got)
	}
}
