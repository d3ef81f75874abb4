package client

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// tree lists the files below dir (slash paths, with their mode) and their contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[filepath.ToSlash(rel)+"/"] = info.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = info.Mode().String() + " " + string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pull --untar writes the chart's files into DEST/UNTARDIR/NAME, as helm does, keeps no
// archive, and never writes into an existing file or directory.
func TestPullUntar(t *testing.T) {
	srv := newTestServer(t)
	env := newTestEnv(t)
	c := env.admin(t)
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	newTestSigner(t, "Publisher").sign(t, archive)
	if _, err := c.Push(ctx, archive, srv.oci("team")); err != nil {
		t.Fatal(err)
	}
	ref, err := c.ParseChartRef([]string{srv.oci("team") + "/myapp"}, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := chart.LoadArchive(f, chart.Limits{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"./": "drwxr-xr-x"}
	for _, file := range ch.Files {
		want[file.Name] = "-rw-r--r-- " + string(file.Data)
		for d := filepath.ToSlash(filepath.Dir(file.Name)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			want[d+"/"] = "drwxr-xr-x"
		}
	}

	for _, tc := range []struct{ name, untarDir, wantDir string }{
		{"destination", "", "myapp"},
		{"untardir", "vendor/charts", "vendor/charts/myapp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			res, err := c.Pull(ctx, ref, PullOptions{DestDir: dest, Untar: true, UntarDir: tc.untarDir, RequireProv: true})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(dest, tc.wantDir)
			if res.Dir != dir || res.Path != "" || res.ProvPath != "" || res.Version != "1.0.0" || res.Digest != "sha256:"+sha256Hex(readFile(t, archive)) {
				t.Errorf("result %+v", res)
			}
			got := tree(t, dir)
			if len(got) != len(want) {
				t.Errorf("expanded %d entries, want %d:\n%v", len(got), len(want), got)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			top := strings.Split(tc.wantDir, "/")[0]
			if names := listDir(t, dest); !slices.Equal(names, []string{top}) {
				t.Errorf("destination holds %v, want only %s (no archive, no temporary files)", names, top)
			}

			// Again: the directory exists, so nothing is written, as helm refuses it.
			marker := filepath.Join(dir, "values.yaml")
			os.WriteFile(marker, []byte("mine"), 0o644)
			_, err = c.Pull(ctx, ref, PullOptions{DestDir: dest, Untar: true, UntarDir: tc.untarDir})
			oneLineError(t, err, nil, dir+" already exists", "--untardir")
			if b := readFile(t, marker); string(b) != "mine" {
				t.Errorf("an existing file was overwritten: %q", b)
			}
		})
	}
	// A file of the chart's name is not replaced either.
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "myapp"), []byte("mine"), 0o644)
	_, err = c.Pull(ctx, ref, PullOptions{DestDir: dest, Untar: true})
	oneLineError(t, err, nil, "already exists")
}

// hostileTgz is a gzipped tar of entries as given (no validation).
func hostileTgz(t *testing.T, entries []*tar.Header, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	chartYAML := "apiVersion: v2\nname: evil\nversion: 1.0.0\n"
	if err := tw.WriteHeader(&tar.Header{Name: "evil/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(chartYAML))
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// An archive with a path out of the chart, an absolute path or a link is refused before
// anything is written: --untar extracts only what chart.LoadArchive accepts.
func TestPullUntarRefusesHostileArchives(t *testing.T) {
	env := newTestEnv(t)
	c := env.client(t, Options{})
	for _, tc := range []struct {
		name  string
		entry *tar.Header
		want  string
	}{
		{"parent directory", &tar.Header{Name: "evil/../../escaped", Mode: 0o644, Typeflag: tar.TypeReg}, `".."`},
		{"absolute path", &tar.Header{Name: "/tmp/escaped", Mode: 0o644, Typeflag: tar.TypeReg}, "absolute path"},
		{"symbolic link", &tar.Header{Name: "evil/templates/link", Linkname: "/etc", Mode: 0o777, Typeflag: tar.TypeSymlink}, "is a link"},
		{"hard link", &tar.Header{Name: "evil/templates/hard", Linkname: "evil/Chart.yaml", Typeflag: tar.TypeLink}, "is a link"},
		{"second top-level directory", &tar.Header{Name: "other/escaped", Mode: 0o644, Typeflag: tar.TypeReg}, "outside the chart directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := hostileTgz(t, []*tar.Header{tc.entry}, "pwned")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/charts/evil-1.0.0.tgz" {
					http.NotFound(w, r)
					return
				}
				w.Write(data)
			}))
			t.Cleanup(srv.Close)
			ref, err := c.ParseChartRef([]string{srv.URL + "/charts/evil-1.0.0.tgz"}, "")
			if err != nil {
				t.Fatal(err)
			}
			top := t.TempDir()
			dest := filepath.Join(top, "a", "b")
			_, err = c.Pull(context.Background(), ref, PullOptions{DestDir: dest, Untar: true})
			oneLineError(t, err, nil, "not a valid chart archive", tc.want)
			if _, serr := os.Stat(filepath.Join(dest, "evil")); serr == nil {
				t.Error("the chart directory was written")
			}
			filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					t.Errorf("%s was written", p)
				}
				return nil
			})
			if _, err := os.Stat("/tmp/escaped"); err == nil {
				t.Error("/tmp/escaped was written")
			}
		})
	}
}

// helm pull https://…/NAME-VERSION.tgz: the archive is saved under its file name with its
// .prov, after the same checks as any pull.
func TestPullArchiveURL(t *testing.T) {
	srv := newTestServer(t)
	env := newTestEnv(t)
	c := env.admin(t)
	ctx := context.Background()
	archive := testArchive(t, t.TempDir(), "myapp", "1.0.0", "a")
	signer := newTestSigner(t, "Publisher")
	signer.sign(t, archive)
	if _, err := c.Push(ctx, archive, srv.repo("team")); err != nil {
		t.Fatal(err)
	}
	u := srv.repo("team") + "/charts/myapp-1.0.0.tgz"
	ref, err := c.ParseChartRef([]string{u}, "")
	if err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	res, err := c.Pull(ctx, ref, PullOptions{DestDir: dest, Verify: signer.verifier()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "myapp" || res.Version != "1.0.0" || res.Source != u || !res.Verified ||
		res.Path != filepath.Join(dest, "myapp-1.0.0.tgz") || res.ProvPath != res.Path+".prov" {
		t.Errorf("result %+v", res)
	}
	if !bytes.Equal(readFile(t, res.Path), readFile(t, archive)) || !bytes.Equal(readFile(t, res.ProvPath), readFile(t, archive+".prov")) {
		t.Error("the pulled files differ from the published ones")
	}

	_, err = c.Pull(ctx, ref, PullOptions{DestDir: dest, Version: "1.0.0"})
	oneLineError(t, err, nil, "names one archive", "drop --version")
	missing, _ := c.ParseChartRef([]string{srv.repo("team") + "/charts/nope-1.0.0.tgz"}, "")
	_, err = c.Pull(ctx, missing, PullOptions{DestDir: t.TempDir()})
	oneLineError(t, err, ErrNotFound, "nope-1.0.0.tgz does not exist (404)")
	if _, err := c.ParseChartRef([]string{u}, srv.repo("team")); err == nil || !strings.Contains(err.Error(), "drop --repo") {
		t.Errorf("a URL with --repo: %v", err)
	}
}
