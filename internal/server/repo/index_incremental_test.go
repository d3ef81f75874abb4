package repo

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
)

// An index brought up to date from the versions changed since its generation must equal one
// rendered from scratch.
func TestIndexIncrementalUpdateMatchesFullBuild(t *testing.T) {
	ctx := context.Background()
	for _, asJSON := range []bool{false, true} {
		e := newEnv(t, Options{})
		e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
		e.mustUpload("team", charttest.Archive(t, "myapp", "1.2.0", ""))
		e.mustUpload("team", charttest.Archive(t, "zeta", "0.1.0", ""))
		first, err := e.handler.indexDoc(ctx, "team", asJSON)
		if err != nil {
			t.Fatal(err)
		}
		e.mustUpload("team", charttest.Archive(t, "myapp", "1.10.0", ""))
		e.mustUpload("team", charttest.Archive(t, "alpha", "2.0.0-rc.1", ""))
		if r := e.send(http.MethodDelete, apiPath("team", "charts/myapp/1.0.0"), nil); r.status != http.StatusOK {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		updated, err := e.handler.indexDoc(ctx, "team", asJSON)
		if err != nil {
			t.Fatal(err)
		}
		if updated.gen != first.gen+3 || len(updated.index.Entries) != 4 {
			t.Fatalf("json=%v: generation %d → %d, %d entries", asJSON, first.gen, updated.gen, len(updated.index.Entries))
		}
		fresh, err := e.handler.buildIndex(ctx, e.handler.reg, indexKey{ns: "team", json: asJSON}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(updated.plain, fresh.plain) || updated.etag != fresh.etag {
			t.Fatalf("json=%v: incremental index differs from a full build:\n%s\n---\n%s", asJSON, updated.plain, fresh.plain)
		}
	}
}

// A restarted server answers the first index request from the copy kept on disk, and an
// upload after the restart still shows in the next index.
func TestIndexDiskCopyAfterRestart(t *testing.T) {
	ctx := context.Background()
	cacheDir := filepath.Join(t.TempDir(), "index-cache")
	e := newEnv(t, Options{CacheDir: cacheDir})
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.0.0", ""))
	before := e.get("/team/index.yaml")
	waitForFiles(t, cacheDir, 1)

	e.start(Options{CacheDir: cacheDir})
	doc, err := e.handler.indexDoc(ctx, "team", false)
	if err != nil {
		t.Fatal(err)
	}
	if doc.index != nil {
		t.Fatal("the first index after a restart was rebuilt, not read from disk")
	}
	after := e.get("/team/index.yaml")
	if !bytes.Equal(after.body, before.body) || after.header.Get("ETag") != before.header.Get("ETag") {
		t.Fatalf("index from disk differs: ETag %q vs %q", after.header.Get("ETag"), before.header.Get("ETag"))
	}

	e.mustUpload("team", charttest.Archive(t, "myapp", "1.1.0", ""))
	idx := parseIndex(t, e.get("/team/index.yaml").body)
	if got := idx.versionsOf("myapp"); len(got) != 2 || got[0] != "1.1.0" {
		t.Fatalf("after an upload: %v", got)
	}

	// A copy of another generation is ignored.
	e.start(Options{CacheDir: cacheDir})
	time.Sleep(50 * time.Millisecond) // let the background write of the last index land
	e.mustUpload("team", charttest.Archive(t, "myapp", "1.2.0", ""))
	if got := parseIndex(t, e.get("/team/index.yaml").body).versionsOf("myapp"); len(got) != 3 {
		t.Fatalf("stale disk copy served: %v", got)
	}
}

func waitForFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		entries, _ := os.ReadDir(dir)
		done := 0
		for _, e := range entries {
			if e.Name()[0] != '.' { // not a write in progress
				done++
			}
		}
		if done >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no index copy written to %s", dir)
}
