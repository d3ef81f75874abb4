package meta

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
)

// A blob linked to several repositories of a namespace counts once there, and a blob linked
// in several namespaces once in the total.
func TestStorageUsage(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	link := func(repo, content string) {
		t.Helper()
		if err := db.LinkBlob(ctx, repo, digest.FromString(content), int64(len(content))); err != nil {
			t.Fatal(err)
		}
	}
	link("team/a", "shared by team and other")
	link("team/b", "shared by team and other")
	link("team/b", "team only")
	link("other/c", "shared by team and other")
	link("root", "root's")
	nss, total, err := db.StorageUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shared, teamOnly := int64(len("shared by team and other")), int64(len("team only"))
	want := []NamespaceUsage{
		{Namespace: "", Repositories: 1, Blobs: 1, BlobSize: int64(len("root's"))},
		{Namespace: "other", Repositories: 1, Blobs: 1, BlobSize: shared},
		{Namespace: "team", Repositories: 2, Blobs: 2, BlobSize: shared + teamOnly},
	}
	if len(nss) != len(want) {
		t.Fatalf("namespaces %+v", nss)
	}
	for i := range want {
		if nss[i] != want[i] {
			t.Errorf("%+v, want %+v", nss[i], want[i])
		}
	}
	if w := (NamespaceUsage{Repositories: 4, Blobs: 3, BlobSize: shared + teamOnly + int64(len("root's"))}); total != w {
		t.Errorf("total %+v, want %+v", total, w)
	}
}
