package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// chartroom gc on serve's data directory: a blob nothing links, older than the grace
// period, goes (a dry run only counts it); the published chart stays intact (fsck finds no
// problem); retention settings are set, shown and refused when malformed.
func TestGCCommand(t *testing.T) {
	dir, archive := servedDataDir(t) // chart myapp 1.2.0 in namespace team

	orphan := []byte("nothing links me")
	od := digest.FromBytes(orphan)
	p := blobFile(dir, od)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, orphan, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}

	r := run(t, "", "gc", "--data-dir", dir, "--dry-run")
	r.wantExit(t, 0)
	if !strings.Contains(r.stdout, "blobs               1 would remove") {
		t.Fatalf("dry run:\n%s", r.stdout)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("a dry run removed the blob: %v", err)
	}
	r = run(t, "", "gc", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	var rep struct {
		Blobs int   `json:"blobs"`
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Blobs != 1 || rep.Bytes != int64(len(orphan)) {
		t.Fatalf("gc -o json: %v\n%s", err, r.stdout)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("the unlinked blob is still there: %v", err)
	}
	if _, err := os.Stat(blobFile(dir, archive)); err != nil {
		t.Fatalf("the chart's archive: %v", err)
	}
	run(t, "", "fsck", "--data-dir", dir).wantExit(t, 0)

	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--keep-prereleases", "-1").wantExit(t, 2)
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--delete-prereleases-older-than", "soon").wantExit(t, 2)
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--keep-prereleases", "2", "--delete-prereleases-older-than", "30d").wantExit(t, 0)
	run(t, "", "namespace", "set", "team", "--data-dir", dir, "--keep-prereleases", "off").wantExit(t, 0)
	r = run(t, "", "namespace", "show", "team", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	var res namespaceResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Retention.KeepPrereleases != nil ||
		res.Retention.DeletePrereleasesOlderThan == nil || *res.Retention.DeletePrereleasesOlderThan != "30d" {
		t.Fatalf("show -o json: %v\n%s", err, r.stdout)
	}
	run(t, "", "gc", "--data-dir", dir, "--grace", "0s").wantExit(t, 2)
}
