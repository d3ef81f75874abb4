package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCrane builds an image from a tarball layer with crane append, copies it to another
// repository, and reads it back with crane manifest, digest, ls, catalog and export.
func TestCrane(t *testing.T) {
	t.Parallel()
	bin := need(t, crane)
	srv := StartServer(t)
	e := newToolEnv(t)
	host := srv.Host()
	src := host + "/team/images/app:v1"
	dst := host + "/team/mirror/app:v1"
	insecure := "--insecure"

	e.must(bin, "auth", "login", host, "--username", "admin", "--password", srv.Password)

	content := []byte("hello from a chartroom e2e layer\n")
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"hello.txt": content, "etc/app.conf": []byte("debug = false\n")})

	e.must(bin, "append", "--new_layer", layer, "--new_tag", src, insecure)
	e.must(bin, "copy", src, dst, insecure)

	srcManifest, _, err := e.exec("", bin, "manifest", src, insecure)
	if err != nil {
		t.Fatal(err)
	}
	dstManifest, _, err := e.exec("", bin, "manifest", dst, insecure)
	if err != nil {
		t.Fatal(err)
	}
	if srcManifest == "" || srcManifest != dstManifest {
		t.Fatalf("copied manifest differs:\nsource: %s\ncopy:   %s", srcManifest, dstManifest)
	}
	srcDigest := strings.TrimSpace(e.must(bin, "digest", src, insecure))
	if d := strings.TrimSpace(e.must(bin, "digest", dst, insecure)); d != srcDigest || d != digestOf([]byte(srcManifest)) {
		t.Errorf("digests: source %s, copy %s, manifest hashes to %s", srcDigest, d, digestOf([]byte(srcManifest)))
	}

	if tags := strings.Fields(e.must(bin, "ls", host+"/team/images/app", insecure)); !slices.Equal(tags, []string{"v1"}) {
		t.Errorf("crane ls = %v; want [v1]", tags)
	}
	repos := strings.Fields(e.must(bin, "catalog", host, insecure))
	for _, want := range []string{"team/images/app", "team/mirror/app"} {
		if !slices.Contains(repos, want) {
			t.Errorf("crane catalog = %v; lacks %s", repos, want)
		}
	}

	export := filepath.Join(t.TempDir(), "fs.tar")
	e.must(bin, "export", dst, export, insecure)
	files := readTar(t, export)
	if !bytes.Equal(files["hello.txt"], content) {
		t.Errorf("exported filesystem: hello.txt = %q; want %q (files: %d)", files["hello.txt"], content, len(files))
	}
}

func writeTar(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "./")] = b
	}
}
