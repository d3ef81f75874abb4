package fsck

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
)

// fixture is a data directory laid out as chartroom serve lays it out, holding two versions
// of a chart (published as the classic upload API does), an image, and a blob that is linked
// but that nothing references.
type fixture struct {
	opts           Options
	chart1, chart2 digest.Digest // archives of myapp 1.0.0 and 1.1.0
	layer          digest.Digest // the image's layer
	loose          digest.Digest // linked, referenced by nothing
}

func populate(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	f := fixture{opts: Options{
		DataDir:   dir,
		Database:  filepath.Join(dir, "chartroom.db"),
		Blobs:     filepath.Join(dir, "blobs"),
		LostFound: filepath.Join(dir, "lost+found"),
	}}
	db, err := meta.OpenSQLite(ctx, f.opts.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := blobfs.New(f.opts.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(ctx, db, store, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"1.0.0", "1.1.0"} {
		archive := chartArchive(t, "myapp", v)
		up, err := reg.ReceiveChart(ctx, bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		_, err = reg.PublishChart(ctx, registry.PublishChartRequest{Namespace: "team", Archive: up})
		up.Close()
		if err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(archive)
		if i == 0 {
			f.chart1 = d
		} else {
			f.chart2 = d
		}
	}
	config, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("an image layer, not compressed")
	f.layer = digest.FromBytes(layer)
	for _, b := range [][]byte{config, layer} {
		if _, err := reg.PutBlob(ctx, "team/app", digest.FromBytes(b), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	manifest, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: f.layer, Size: int64(len(layer))}},
	})
	if _, err := reg.PutManifest(ctx, registry.PutManifestRequest{Repository: "team/app", Reference: "v1", ContentType: ocispec.MediaTypeImageManifest, Body: manifest}); err != nil {
		t.Fatal(err)
	}
	loose := []byte("uploaded, never used by a manifest")
	f.loose = digest.FromBytes(loose)
	if _, err := reg.PutBlob(ctx, "team/app", f.loose, int64(len(loose)), bytes.NewReader(loose)); err != nil {
		t.Fatal(err)
	}
	return f
}

func chartArchive(t *testing.T, name, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range []struct{ name, body string }{
		{"Chart.yaml", fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version)},
		{"values.yaml", "replicas: 1\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func (f fixture) blobPath(d digest.Digest) string {
	return filepath.Join(f.opts.Blobs, "blobs", string(d.Algorithm()), d.Encoded()[:2], d.Encoded())
}

func run(t *testing.T, opts Options) *Report {
	t.Helper()
	r, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	return r
}

// kinds lists the findings as "severity kind subject", sorted.
func kinds(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.Kind, f.Subject))
	}
	sort.Strings(out)
	return out
}

func find(t *testing.T, r *Report, kind, subject string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Kind == kind && strings.Contains(f.Subject, subject) {
			if f.Meaning == "" || f.Action == "" {
				t.Errorf("finding %s %s lacks its meaning or action: %+v", kind, subject, f)
			}
			return f
		}
	}
	t.Fatalf("no %s finding about %s; findings:\n%s", kind, subject, strings.Join(kinds(r), "\n"))
	return Finding{}
}

func chartSubject(version string) string { return "chart myapp " + version + " (team/myapp)" }

// tree records every file under dir with its size and content hash, to prove a read-only
// check wrote nothing. SQLite's -shm and -wal companions, which any reader of a WAL database
// may create, are left out.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, "-shm") || strings.HasSuffix(p, "-wal") {
			return nil
		}
		if e.IsDir() {
			out[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[p] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed (%q → %q)", p, h, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created", p)
		}
	}
}

func TestClean(t *testing.T) {
	f := populate(t)
	before := tree(t, f.opts.DataDir)
	r := run(t, f.opts)
	if r.Problems != 0 || len(r.Findings) != 0 {
		t.Fatalf("a freshly populated data directory: %d problems, findings %v", r.Problems, kinds(r))
	}
	if len(r.Categories) != 6 {
		t.Errorf("categories = %+v; want database, blobs, manifests, charts, orphans, leftovers", r.Categories)
	}
	for _, c := range r.Categories {
		if c.Summary == "" {
			t.Errorf("category %s has no summary", c.Name)
		}
	}
	sameTree(t, before, tree(t, f.opts.DataDir))
}

// TestDamagedBlobs injects damage into the blob store, checks what fsck reports without
// --repair (and that it writes nothing), then what --repair does and that it keeps every
// intact chart version.
func TestDamagedBlobs(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, f fixture)
		// want are the problems and notes expected, as "severity kind subject-fragment".
		want func(f fixture) []string
		// repaired are the findings --repair fixes; the rest must stay unrepaired.
		repaired func(f fixture) []string
		// after checks the data directory after --repair.
		after func(t *testing.T, f fixture, r *Report)
	}{
		{
			name: "truncated chart archive",
			damage: func(t *testing.T, f fixture) {
				p := f.blobPath(f.chart1)
				if err := os.Truncate(p, 10); err != nil {
					t.Fatal(err)
				}
			},
			want: func(f fixture) []string {
				return []string{"problem blob-corrupt " + f.chart1.String(), "problem chart-content " + chartSubject("1.0.0")}
			},
			repaired: func(f fixture) []string { return []string{"blob-corrupt " + f.chart1.String()} },
			after: func(t *testing.T, f fixture, r *Report) {
				q := filepath.Join(f.opts.LostFound, "sha256-"+f.chart1.Encoded())
				if fi, err := os.Stat(q); err != nil || fi.Size() != 10 {
					t.Errorf("the damaged bytes are not in lost+found: %v", err)
				}
				// Now it is missing, and still needed: a second repair leaves its rows.
				again := run(t, withRepair(f.opts))
				missing := find(t, again, "blob-missing", f.chart1.String())
				if missing.Repaired != "" || !strings.Contains(missing.Detail, chartSubject("1.0.0")) {
					t.Errorf("missing archive of a live version: %+v", missing)
				}
			},
		},
		{
			name: "flipped byte in an image layer",
			damage: func(t *testing.T, f fixture) {
				p := f.blobPath(f.layer)
				b, _ := os.ReadFile(p)
				b[3] ^= 0x20
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want:     func(f fixture) []string { return []string{"problem blob-corrupt " + f.layer.String()} },
			repaired: func(f fixture) []string { return []string{"blob-corrupt " + f.layer.String()} },
			after: func(t *testing.T, f fixture, r *Report) {
				if _, err := os.Stat(f.blobPath(f.layer)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the damaged layer is still in the store: %v", err)
				}
			},
		},
		{
			name: "deleted chart archive",
			damage: func(t *testing.T, f fixture) {
				if err := os.Remove(f.blobPath(f.chart2)); err != nil {
					t.Fatal(err)
				}
			},
			want: func(f fixture) []string {
				return []string{"problem blob-missing " + f.chart2.String(), "problem chart-content " + chartSubject("1.1.0")}
			},
			repaired: func(fixture) []string { return nil }, // a live version needs it: only a backup helps
		},
		{
			name: "deleted blob nothing references",
			damage: func(t *testing.T, f fixture) {
				if err := os.Remove(f.blobPath(f.loose)); err != nil {
					t.Fatal(err)
				}
			},
			want:     func(f fixture) []string { return []string{"problem blob-missing " + f.loose.String()} },
			repaired: func(f fixture) []string { return []string{"blob-missing " + f.loose.String()} },
			after: func(t *testing.T, f fixture, r *Report) {
				if again := run(t, f.opts); again.Problems != 0 {
					t.Errorf("after removing the rows of an unneeded missing blob: %v", kinds(again))
				}
			},
		},
		{
			name: "orphan blob",
			damage: func(t *testing.T, f fixture) {
				b := []byte("pushed while the database was somewhere else")
				d := digest.FromBytes(b)
				os.MkdirAll(filepath.Dir(f.blobPath(d)), 0o755)
				if err := os.WriteFile(f.blobPath(d), b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want:     func(fixture) []string { return []string{"note orphan-blob sha256:"} },
			repaired: func(fixture) []string { return nil }, // kept: a newer database may need it
			after: func(t *testing.T, f fixture, r *Report) {
				d := digest.FromBytes([]byte("pushed while the database was somewhere else"))
				if _, err := os.Stat(f.blobPath(d)); err != nil {
					t.Errorf("--repair removed an orphan: %v", err)
				}
			},
		},
		{
			name: "stale temporary file and upload session, and a fresh one",
			damage: func(t *testing.T, f fixture) {
				old := time.Now().Add(-48 * time.Hour)
				stale := filepath.Join(f.opts.Blobs, "tmp", "put-123")
				fresh := filepath.Join(f.opts.Blobs, "tmp", "put-456")
				for _, p := range []string{stale, fresh} {
					if err := os.WriteFile(p, []byte("half a blob"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				os.Chtimes(stale, old, old)
				store, _ := blobfs.OpenExisting(f.opts.Blobs)
				if err := store.CreateUpload(context.Background(), "abandoned", "admin"); err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"", "data", "state", "owner"} {
					os.Chtimes(filepath.Join(f.opts.Blobs, "uploads", "abandoned", n), old, old)
				}
			},
			want: func(fixture) []string {
				return []string{"note temp-file put-123", "note temp-file put-456", "note upload-session abandoned"}
			},
			repaired: func(fixture) []string { return []string{"temp-file put-123", "upload-session abandoned"} },
			after: func(t *testing.T, f fixture, r *Report) {
				if _, err := os.Stat(filepath.Join(f.opts.Blobs, "tmp", "put-456")); err != nil {
					t.Errorf("--repair removed a temporary file still being written: %v", err)
				}
				if again := run(t, f.opts); len(again.Findings) != 1 {
					t.Errorf("after the repair: %v; want only the fresh temporary file", kinds(again))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := populate(t)
			tt.damage(t, f)
			before := tree(t, f.opts.DataDir)
			r := run(t, f.opts)
			got := kinds(r)
			for _, w := range tt.want(f) {
				parts := strings.SplitN(w, " ", 3)
				if fd := find(t, r, parts[1], parts[2]); string(fd.Severity) != parts[0] {
					t.Errorf("%s: severity %s, want %s", w, fd.Severity, parts[0])
				}
			}
			if len(got) != len(tt.want(f)) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want(f), "\n"))
			}
			problems := 0
			for _, w := range tt.want(f) {
				if strings.HasPrefix(w, "problem ") {
					problems++
				}
			}
			if r.Problems != problems {
				t.Errorf("%d problems counted, want %d", r.Problems, problems)
			}
			sameTree(t, before, tree(t, f.opts.DataDir)) // a check without --repair writes nothing

			r = run(t, withRepair(f.opts))
			repaired := map[string]bool{}
			for _, w := range tt.repaired(f) {
				parts := strings.SplitN(w, " ", 2)
				fd := find(t, r, parts[0], parts[1])
				if fd.Repaired == "" {
					t.Errorf("%s not repaired: %+v", w, fd)
				}
				repaired[fd.Kind+" "+fd.Subject] = true
			}
			for _, fd := range r.Findings {
				if fd.Repaired != "" && !repaired[fd.Kind+" "+fd.Subject] {
					t.Errorf("%s %s repaired unexpectedly: %s", fd.Kind, fd.Subject, fd.Repaired)
				}
			}
			if tt.after != nil {
				tt.after(t, f, r)
			}
			checkChartsKept(t, f)
		})
	}
}

func withRepair(o Options) Options {
	o.Repair = true
	return o
}

// checkChartsKept checks that both chart versions are still published with their digests:
// no repair ever removes a chart version.
func checkChartsKept(t *testing.T, f fixture) {
	t.Helper()
	db, err := meta.OpenSQLiteExisting(context.Background(), f.opts.Database, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for v, d := range map[string]digest.Digest{"1.0.0": f.chart1, "1.1.0": f.chart2} {
		cv, err := db.GetChartVersion(context.Background(), "team", "myapp", v)
		if err != nil || cv.Deleted || cv.ChartDigest != d {
			t.Errorf("chart myapp %s after repair: %+v, %v", v, cv, err)
		}
	}
}

// TestDatabaseLost checks a data directory whose database is zero-length, garbage or gone:
// fsck says so (exit 1 material, not a failure to run), still re-hashes the blobs, and writes
// nothing to the database file, also with --repair.
func TestDatabaseLost(t *testing.T) {
	tests := []struct {
		name    string
		content []byte // nil: remove the file
		kind    string
	}{
		{"zero-length", []byte{}, "database-empty"},
		{"not a database", bytes.Repeat([]byte("not sqlite "), 1000), "database-corrupt"},
		{"damaged header", append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xff}, 4000)...), "database-corrupt"},
		{"missing", nil, "database-missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := populate(t)
			if tt.content == nil {
				os.Remove(f.opts.Database)
			} else if err := os.WriteFile(f.opts.Database, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(f.blobPath(f.layer), []byte("damaged"), 0o644)
			for _, repair := range []bool{false, true} {
				opts := f.opts
				opts.Repair = repair
				r := run(t, opts)
				fd := find(t, r, tt.kind, f.opts.Database)
				if fd.Severity != Problem || !strings.Contains(fd.Action, "restore chartroom.db from your latest backup") {
					t.Errorf("%+v", fd)
				}
				if !repair {
					find(t, r, "blob-corrupt", f.layer.String())
				}
				got, err := os.ReadFile(f.opts.Database)
				if tt.content == nil {
					if !errors.Is(err, os.ErrNotExist) {
						t.Errorf("fsck created the database: %v", err)
					}
				} else if !bytes.Equal(got, tt.content) {
					t.Errorf("fsck changed the database file (%d bytes, was %d)", len(got), len(tt.content))
				}
			}
		})
	}

	t.Run("nothing at all", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Run(context.Background(), Options{DataDir: dir, Database: filepath.Join(dir, "chartroom.db"), Blobs: filepath.Join(dir, "blobs")})
		if !errors.Is(err, ErrNothingToCheck) {
			t.Fatalf("an empty directory: %v, want ErrNothingToCheck", err)
		}
		if _, err := Run(context.Background(), Options{DataDir: filepath.Join(dir, "nope")}); err == nil {
			t.Fatal("a missing directory: no error")
		}
	})
}

// TestDamagedDatabase changes rows behind the registry's back: a manifest whose content no
// longer matches its digest, and a chart version whose tag is gone.
func TestDamagedDatabase(t *testing.T) {
	f := populate(t)
	db, err := sql.Open("sqlite", f.opts.Database)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE manifests SET content = CAST(replace(CAST(content AS TEXT), 'v1.tar', 'v2.tar') AS BLOB)
		WHERE repository_id = (SELECT id FROM repositories WHERE name = 'team/app')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM tags WHERE name = '1.1.0'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := run(t, f.opts)
	find(t, r, "manifest-damaged", "team/app@")
	fd := find(t, r, "chart-record", chartSubject("1.1.0"))
	if !strings.Contains(fd.Detail, "tag 1.1.0 is missing") {
		t.Errorf("chart-record detail: %s", fd.Detail)
	}
	if r.Problems != 2 {
		t.Errorf("problems = %d; findings %v", r.Problems, kinds(r))
	}
}
