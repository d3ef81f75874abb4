package staticindex

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"sigs.k8s.io/yaml"

	"github.com/chartroom/chartroom/internal/chart"
)

// tgz builds a chart archive from name → content pairs, in order.
func tgz(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(files); i += 2 {
		hdr := &tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// indexDoc is index.yaml decoded generically, for field-by-field checks.
type indexDoc struct {
	APIVersion string                      `json:"apiVersion"`
	Generated  time.Time                   `json:"generated"`
	Entries    map[string][]map[string]any `json:"entries"`
}

func render(t *testing.T, ix *Index) (indexDoc, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := ix.Write(&buf); err != nil {
		t.Fatal(err)
	}
	var doc indexDoc
	if err := yaml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("index.yaml does not parse: %v\n%s", err, buf.String())
	}
	return doc, buf.String()
}

func find(doc indexDoc, name, version string) map[string]any {
	for _, e := range doc.Entries[name] {
		if e["version"] == version {
			return e
		}
	}
	return nil
}

func TestBuildEntriesAsHelm(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

	archives := map[string][]byte{
		// A plain v2 chart.
		"web-1.0.0.tgz": tgz(t, "web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: \"2.0\"\ndescription: A  web\tapp\nkeywords: [a, b]\n",
			"web/values.yaml", "replicas: 1\n", "web/templates/a.yaml", "kind: A\n"),
		"web-1.1.0-rc.1.tgz": tgz(t, "web/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.1.0-rc.1\n"),
		// Helm reads an unquoted number as its shortest string form.
		"num-0.1.0.tgz": tgz(t, "num/Chart.yaml", "apiVersion: v2\nname: num\nversion: 0.1.0\nappVersion: 1.10\n"),
		// apiVersion v1: defaulted, and requirements.yaml merged into the metadata.
		"old-0.2.0.tgz": tgz(t, "old/Chart.yaml", "name: old\nversion: 0.2.0\n",
			"old/requirements.yaml", "dependencies:\n- name: redis\n  version: ~1.0.0\n  repository: https://charts.example.com\n"),
		// Helm's looser version rule: "v1.2" is a version there.
		"loose-v1.2.tgz": tgz(t, "loose/Chart.yaml", "apiVersion: v2\nname: loose\nversion: v1.2\n"),
		// One level of subdirectories is indexed, with the directory in the URL.
		"sub/deep-2.0.0.tgz": tgz(t, "deep/Chart.yaml", "apiVersion: v2\nname: deep\nversion: 2.0.0\n"),
		// Two levels are not (Helm's glob is dir/**/*.tgz, where ** is *).
		"sub/sub2/deeper-1.0.0.tgz": tgz(t, "deeper/Chart.yaml", "apiVersion: v2\nname: deeper\nversion: 1.0.0\n"),
		// Not charts: skipped.
		"notgzip.tgz":      []byte("apiVersion: v2\nname: x\n"),
		"nochart.tgz":      tgz(t, "x/values.yaml", "a: 1\n"),
		"badversion.tgz":   tgz(t, "bad/Chart.yaml", "apiVersion: v2\nname: bad\nversion: one\n"),
		"badyaml.tgz":      tgz(t, "bad/Chart.yaml", "apiVersion: v2\nname: [\n"),
		"parent.tgz":       tgz(t, "x/../../etc/Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n"),
		"toplevel.tgz":     tgz(t, "Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n"),
		"badlock.tgz":      tgz(t, "x/Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\n", "x/Chart.lock", "dependencies: {\n"),
		"dupdeps.tgz":      tgz(t, "x/Chart.yaml", "apiVersion: v2\nname: x\nversion: 1.0.0\ndependencies:\n- name: a\n- name: a\n"),
		"README.md":        []byte("not an archive"),
		"web-1.0.0.tgz.pr": []byte("not an archive either"),
	}
	for name, data := range archives {
		write(t, filepath.Join(dir, filepath.FromSlash(name)), data)
	}

	ix, err := Build(context.Background(), dir, Options{BaseURL: "https://charts.example.com/stable/", Now: now, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	doc, text := render(t, ix)

	if got, want := ix.Archives, 6; got != want {
		t.Errorf("indexed %d archives, want %d\n%s", got, want, text)
	}
	var skipped []string
	for _, s := range ix.Skipped {
		skipped = append(skipped, s.Path)
		if s.Err == nil || strings.Contains(s.Err.Error(), "\n") {
			t.Errorf("skipped %s: want a one-line reason, got %v", s.Path, s.Err)
		}
	}
	if got, want := strings.Join(skipped, " "), "badlock.tgz badversion.tgz badyaml.tgz dupdeps.tgz nochart.tgz notgzip.tgz parent.tgz toplevel.tgz"; got != want {
		t.Errorf("skipped %s, want %s", got, want)
	}

	web := find(doc, "web", "1.0.0")
	if web == nil {
		t.Fatalf("web 1.0.0 missing:\n%s", text)
	}
	checks := map[string]any{
		"apiVersion":  "v2",
		"appVersion":  "2.0",
		"description": "A  web app", // sanitized: tab → space, as Helm's Validate
		"digest":      sha(archives["web-1.0.0.tgz"]),
		"created":     "2024-05-06T07:08:09.123456789Z",
		"urls":        []any{"https://charts.example.com/stable/web-1.0.0.tgz"},
		"keywords":    []any{"a", "b"},
	}
	for k, want := range checks {
		got, _ := json.Marshal(web[k])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("web 1.0.0 %s = %s, want %s", k, got, w)
		}
	}
	if v := doc.Entries["web"]; len(v) != 2 || v[0]["version"] != "1.1.0-rc.1" {
		t.Errorf("web versions not newest first: %v", v)
	}
	if e := find(doc, "num", "0.1.0"); e == nil || e["appVersion"] != "1.1" {
		t.Errorf("num appVersion = %v, want Helm's reading \"1.1\"", e)
	}
	old := find(doc, "old", "0.2.0")
	if old == nil || old["apiVersion"] != "v1" {
		t.Fatalf("old 0.2.0 = %v, want apiVersion v1", old)
	}
	if deps, _ := json.Marshal(old["dependencies"]); string(deps) != `[{"name":"redis","repository":"https://charts.example.com","version":"~1.0.0"}]` {
		t.Errorf("old dependencies = %s, want requirements.yaml's", deps)
	}
	if find(doc, "loose", "v1.2") == nil {
		t.Errorf("loose v1.2 missing: Helm indexes it")
	}
	if e := find(doc, "deep", "2.0.0"); e == nil || e["urls"].([]any)[0] != "https://charts.example.com/stable/sub/deep-2.0.0.tgz" {
		t.Errorf("deep 2.0.0 = %v, want its URL under sub/", e)
	}
	if doc.Entries["deeper"] != nil {
		t.Errorf("deeper is two levels down and must not be indexed")
	}
	if !doc.Generated.Equal(now) {
		t.Errorf("generated = %v, want %v", doc.Generated, now)
	}
}

func TestArchiveURL(t *testing.T) {
	for _, tc := range []struct{ base, parent, file, want string }{
		{"", "", "a-1.0.0.tgz", "a-1.0.0.tgz"},
		{"", "sub", "a-1.0.0.tgz", "sub/a-1.0.0.tgz"},
		{"https://x.example/charts", "", "a-1.0.0.tgz", "https://x.example/charts/a-1.0.0.tgz"},
		{"https://x.example/charts/", "sub", "a-1.0.0+b.tgz", "https://x.example/charts/sub/a-1.0.0+b.tgz"},
		{"https://x.example", "", "a b.tgz", "https://x.example/a%20b.tgz"},
		{"/charts", "", "a.tgz", "/charts/a.tgz"},
	} {
		if got := archiveURL(tc.base, tc.parent, tc.file); got != tc.want {
			t.Errorf("archiveURL(%q, %q, %q) = %q, want %q", tc.base, tc.parent, tc.file, got, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 2000)
	write(t, filepath.Join(dir, "big-1.0.0.tgz"), tgz(t, "big/Chart.yaml", "apiVersion: v2\nname: big\nversion: 1.0.0\n", "big/README.md", big))
	write(t, filepath.Join(dir, "total-1.0.0.tgz"), tgz(t, "total/Chart.yaml", "apiVersion: v2\nname: total\nversion: 1.0.0\n",
		"total/a", big[:900], "total/b", big[:900], "total/c", big[:900]))
	ix, err := Build(context.Background(), dir, Options{Limits: chart.Limits{MaxFileSize: 1000, MaxTotalSize: 2500}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Entries) != 0 || len(ix.Skipped) != 2 {
		t.Fatalf("entries %d, skipped %v: want both archives refused", len(ix.Entries), ix.Skipped)
	}
	if !strings.Contains(ix.Skipped[0].Err.Error(), "per-file limit") || !strings.Contains(ix.Skipped[1].Err.Error(), "total limit") {
		t.Errorf("reasons: %v; %v", ix.Skipped[0].Err, ix.Skipped[1].Err)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(context.Background(), filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Error("a missing directory must fail")
	}
	f := filepath.Join(t.TempDir(), "file")
	write(t, f, []byte("x"))
	if _, err := Build(context.Background(), f, Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file: %v", err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a-1.0.0.tgz"), tgz(t, "a/Chart.yaml", "apiVersion: v2\nname: a\nversion: 1.0.0\n"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, dir, Options{}); err == nil {
		t.Error("a cancelled context must fail")
	}
	// An empty directory is an empty index, as with Helm.
	ix, err := Build(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, text := render(t, ix); !strings.Contains(text, "entries: {}") {
		t.Errorf("empty index:\n%s", text)
	}
}

func TestMerge(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fresh := tgz(t, "app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.1.0\n")
	write(t, filepath.Join(dir, "app-1.1.0.tgz"), fresh)
	write(t, filepath.Join(dir, "app-2.0.0.tgz"), tgz(t, "app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 2.0.0\n"))

	old := `apiVersion: v1
entries:
  app:
  - apiVersion: v2
    name: app
    version: 1.1.0
    created: "2020-01-01T00:00:00Z"
    digest: "0000000000000000000000000000000000000000000000000000000000000000"
    urls: [https://old.example/app-1.1.0.tgz]
  - apiVersion: v2
    name: app
    version: 1.0.0
    description: kept
    created: "2019-06-01T10:00:00+02:00"
    digest: "1111111111111111111111111111111111111111111111111111111111111111"
    urls: [https://old.example/app-1.0.0.tgz, https://mirror.example/app-1.0.0.tgz]
  - apiVersion: v2
    name: app
    version: 2.0.0+build.7
    created: "2019-06-01T10:00:00Z"
    urls: [https://old.example/app-2.0.0+build.7.tgz]
  - name: app
    version: 0.9.0
    created: "2019-01-01T00:00:00Z"
    urls: [app-0.9.0.tgz]
    checksum: legacy
  - name: app
    version: not-semver
    urls: [x.tgz]
  gone:
  - apiVersion: v2
    name: gone
    version: 0.1.0
    created: "2018-01-01T00:00:00Z"
    digest: "2222222222222222222222222222222222222222222222222222222222222222"
    urls: [gone-0.1.0.tgz]
    dependencies:
    - name: x
    - name: x
generated: "2020-01-01T00:00:00Z"
`
	for _, form := range []string{"yaml", "json"} {
		t.Run(form, func(t *testing.T) {
			data := []byte(old)
			if form == "json" {
				var err error
				if data, err = yaml.YAMLToJSON(data); err != nil {
					t.Fatal(err)
				}
			}
			ix, err := Build(context.Background(), dir, Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Merge(data, "old.yaml"); err != nil {
				t.Fatal(err)
			}
			doc, text := render(t, ix)
			var versions []string
			for _, e := range doc.Entries["app"] {
				versions = append(versions, e["version"].(string))
			}
			// 1.1.0: the directory's wins; 2.0.0+build.7 equals 2.0.0 for Helm's Has; not-semver is dropped.
			if got, want := strings.Join(versions, " "), "2.0.0 1.1.0 1.0.0 0.9.0"; got != want {
				t.Errorf("app versions %q, want %q\n%s", got, want, text)
			}
			if e := find(doc, "app", "1.1.0"); e["digest"] != sha(fresh) || e["created"] != "2025-01-01T00:00:00Z" {
				t.Errorf("app 1.1.0 = %v: the directory's archive must win", e)
			}
			kept := find(doc, "app", "1.0.0")
			if kept["description"] != "kept" || kept["created"] != "2019-06-01T08:00:00Z" ||
				kept["digest"] != "1111111111111111111111111111111111111111111111111111111111111111" ||
				kept["urls"].([]any)[0] != "https://old.example/app-1.0.0.tgz" {
				t.Errorf("app 1.0.0 not kept as it was: %v", kept)
			}
			legacy := find(doc, "app", "0.9.0")
			if _, has := legacy["digest"]; has || legacy["checksum"] != "legacy" || legacy["apiVersion"] != "v1" {
				t.Errorf("app 0.9.0 = %v: want no digest (as it had none), checksum kept, apiVersion v1", legacy)
			}
			if find(doc, "gone", "0.1.0") == nil {
				t.Errorf("gone 0.1.0: Helm keeps index entries whose only problem is a duplicate dependency")
			}
			if ix.Merged != 3 || ix.Archives != 2 || len(ix.Warnings) != 1 || len(ix.Skipped) != 1 {
				t.Errorf("merged %d archives %d warnings %v skipped %v", ix.Merged, ix.Archives, ix.Warnings, ix.Skipped)
			}
			// The entries the directory's archives replaced, as chartroom publish reads them.
			wantShadowed := []Shadowed{{"app", "1.1.0", "0000000000000000000000000000000000000000000000000000000000000000"}, {"app", "2.0.0+build.7", ""}}
			if !reflect.DeepEqual(ix.Shadowed, wantShadowed) {
				t.Errorf("shadowed %v, want %v", ix.Shadowed, wantShadowed)
			}
		})
	}
}

// TestShadowedOnlyByArchives: an index listing a version twice shadows nothing of its own:
// only the directory's archives replace entries.
func TestShadowedOnlyByArchives(t *testing.T) {
	ix, err := Build(context.Background(), t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := "apiVersion: v1\nentries:\n  app:\n  - {apiVersion: v2, name: app, version: 1.0.0, urls: [a.tgz]}\n  - {apiVersion: v2, name: app, version: 1.0.0, urls: [b.tgz]}\n"
	if err := ix.Merge([]byte(old), "old.yaml"); err != nil {
		t.Fatal(err)
	}
	if len(ix.Shadowed) != 0 || len(ix.Entries) != 1 {
		t.Fatalf("shadowed %v, %d entries; want none shadowed, one entry", ix.Shadowed, len(ix.Entries))
	}
	if !SameVersion("2.0.0", "2.0.0+build.7") || !SameVersion("1.0.0", "1.0.0") || SameVersion("1.0.0", "1.0.1") {
		t.Fatal("SameVersion disagrees with Merge")
	}
}

func TestMergeRefusesNonIndex(t *testing.T) {
	for name, data := range map[string]string{
		"empty":         "",
		"no apiVersion": "entries: {}\n",
		"not yaml":      "entries: [\n",
		"a Chart.yaml":  "apiVersion: v2\nname: x\nversion: 1.0.0\n",
	} {
		ix := &Index{versions: map[string]*versionSet{}}
		if err := ix.Merge([]byte(data), "old.yaml"); err == nil || !strings.Contains(err.Error(), "old.yaml") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestVersionSetMatchesConstraints checks the lookup shortcut against the constraint
// check Helm's IndexFile.Has performs.
func TestVersionSetMatchesConstraints(t *testing.T) {
	present := []string{"1.0.0", "1.2.0-rc.1", "2.0.0+build.1", "v3.1", "0.1.0-alpha+x"}
	queries := []string{"1.0.0", "1.0.0+meta", "1.2.0-rc.1", "1.2.0", "2.0.0", "2.0.0+other", "3.1.0", "v3.1",
		"3.1", "0.1.0-alpha", "0.1.0", "1", "1.0", "~1.2.0-rc.0", ">=5", "not a version"}
	s := newVersionSet()
	for _, v := range present {
		s.add(v)
	}
	for _, q := range queries {
		want := false
		if c, err := semver.NewConstraint(q); err == nil {
			for _, v := range present {
				if v == q {
					want = true
				}
				if pv, err := semver.NewVersion(v); err == nil && c.Check(pv) {
					want = true
				}
			}
		}
		if got := s.has(q); got != want {
			t.Errorf("has(%q) = %v, Helm's Has says %v", q, got, want)
		}
	}
}

// The static indexer reads archives with chart's walker, so it refuses (skips) every archive
// LoadArchive refuses for its streams, paths, entry types or limits, with the same reason;
// before, it had checks of its own and indexed most of these.
func TestSkipsWhatLoadArchiveRefuses(t *testing.T) {
	const chartYAML = "apiVersion: v2\nname: x\nversion: 1.0.0\n"
	hdr := func(name string, typ byte, link string) *tar.Header {
		return &tar.Header{Name: name, Mode: 0o644, Typeflag: typ, Linkname: link}
	}
	cases := map[string][]*tar.Header{
		"long-name.tgz":  {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/"+strings.Repeat("a", 4095), tar.TypeReg, "")},
		"backslash.tgz":  {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr(`x\templates\a.yaml`, tar.TypeReg, "")},
		"duplicate.tgz":  {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/Chart.yaml", tar.TypeReg, "")},
		"symlink.tgz":    {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/values.yaml", tar.TypeSymlink, "/etc/passwd")},
		"two-roots.tgz":  {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("y/values.yaml", tar.TypeReg, "")},
		"dot.tgz":        {hdr("x/./Chart.yaml", tar.TypeReg, "")},
		"file-dir.tgz":   {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/a", tar.TypeReg, ""), hdr("x/a/b", tar.TypeReg, "")},
		"fifo.tgz":       {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/fifo", tar.TypeFifo, "")},
		"many-files.tgz": {hdr("x/Chart.yaml", tar.TypeReg, ""), hdr("x/a", tar.TypeReg, ""), hdr("x/b", tar.TypeReg, ""), hdr("x/c", tar.TypeReg, "")},
	}
	lim := chart.Limits{MaxEntries: 3}
	dir := t.TempDir()
	want := map[string]string{}
	for file, headers := range cases {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, h := range headers {
			if strings.HasSuffix(h.Name, "Chart.yaml") {
				h.Size = int64(len(chartYAML))
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte(chartYAML))
			}
		}
		tw.Close()
		zw.Close()
		write(t, filepath.Join(dir, file), buf.Bytes())
		_, err := chart.LoadArchive(bytes.NewReader(buf.Bytes()), lim)
		if err == nil {
			t.Fatalf("%s: LoadArchive accepts it", file)
		}
		want[file] = err.Error()
	}
	write(t, filepath.Join(dir, "good-1.0.0.tgz"), tgz(t, "good/Chart.yaml", "apiVersion: v2\nname: good\nversion: 1.0.0\n"))
	ix, err := Build(context.Background(), dir, Options{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Archives != 1 {
		t.Errorf("indexed %d archives, want only good-1.0.0.tgz", ix.Archives)
	}
	got := map[string]string{}
	for _, s := range ix.Skipped {
		got[s.Path] = s.Err.Error()
	}
	for file, reason := range want {
		if got[file] != reason {
			t.Errorf("%s: skipped for %q, want LoadArchive's reason %q", file, got[file], reason)
		}
	}
}
