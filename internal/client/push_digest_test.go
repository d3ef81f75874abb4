package client

import (
	"context"
	"os"
	"testing"
	"time"
)

// Pushing an archive whose version's tag already names the same chart in another manifest
// (helm push of the same archive at another time: another created annotation) succeeds, and
// the digest reported is the one the tag resolves to, which pulls get.
func TestPushReportsTheTaggedDigest(t *testing.T) {
	srv := newTestServer(t)
	env := newTestEnv(t)
	c := env.admin(t)
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	first, err := c.Push(ctx, archive, srv.oci("team"))
	if err != nil {
		t.Fatal(err)
	}
	later := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(archive, later, later); err != nil {
		t.Fatal(err)
	}
	again, err := c.Push(ctx, archive, srv.oci("team"))
	if err != nil {
		t.Fatalf("pushing the same archive with another mtime: %v", err)
	}
	ref, _ := c.ParseChartRef([]string{srv.oci("team") + "/myapp"}, "")
	pulled, err := c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if again.ManifestDigest != first.ManifestDigest || again.ManifestDigest != pulled.ManifestDigest {
		t.Errorf("first push reported %s, the second %s; the tag resolves to %s", first.ManifestDigest, again.ManifestDigest, pulled.ManifestDigest)
	}
}
