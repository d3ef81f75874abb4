package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
	"time"
)

// packed is one way of packaging files: what ContentDigest must see through.
type packed struct {
	mtime    time.Time
	mode     int64
	uid      int
	reverse  bool
	dirs     bool // directory entries before the files
	level    int
	gzipName string
}

func (p packed) tgz(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, p.level)
	if err != nil {
		t.Fatal(err)
	}
	zw.Header.Name, zw.Header.ModTime = p.gzipName, p.mtime
	tw := tar.NewWriter(zw)
	if p.dirs {
		for _, d := range []string{"demo/", "demo/templates/", "demo/charts/"} {
			if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: p.mtime}); err != nil {
				t.Fatal(err)
			}
		}
	}
	order := append([][2]string(nil), files...)
	if p.reverse {
		for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
			order[i], order[j] = order[j], order[i]
		}
	}
	for _, f := range order {
		hdr := &tar.Header{Name: f[0], Typeflag: tar.TypeReg, Size: int64(len(f[1])), Mode: p.mode, ModTime: p.mtime, Uid: p.uid, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
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

func TestContentDigest(t *testing.T) {
	plain := packed{mode: 0o644, level: gzip.DefaultCompression}
	other := packed{mtime: time.Unix(1700000000, 123), mode: 0o600, uid: 1000, reverse: true, dirs: true,
		level: gzip.BestCompression, gzipName: "demo.tar"}
	sub := func(p packed) string {
		p.dirs = false // the directory entries are demo's
		return string(p.tgz(t, [][2]string{
			{"dep/Chart.yaml", "apiVersion: v2\nname: dep\nversion: 0.1.0\n"},
			{"dep/values.yaml", "x: 1\n"},
		}))
	}
	files := func(p packed, values string) [][2]string {
		return [][2]string{
			{"demo/Chart.yaml", minimalChartYAML},
			{"demo/values.yaml", values},
			{"demo/templates/cm.yaml", "kind: ConfigMap\n"},
			{"demo/charts/dep-0.1.0.tgz", sub(p)},
		}
	}
	digest := func(b []byte) string {
		t.Helper()
		d, err := ContentDigest(bytes.NewReader(b), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := plain.tgz(t, files(plain, "replicas: 1\n"))
	b := other.tgz(t, files(other, "replicas: 1\n")) // the subchart repackaged too
	if bytes.Equal(a, b) {
		t.Fatal("the test archives are identical")
	}
	if da, db := digest(a), digest(b); da != db {
		t.Errorf("archives differing only in packaging: %s ≠ %s", da, db)
	}
	for _, tc := range []struct {
		name  string
		files [][2]string
	}{
		{"a file's content", files(plain, "replicas: 2\n")},
		{"a file more", append(files(plain, "replicas: 1\n"), [2]string{"demo/README.md", "hi\n"})},
		{"a file renamed", [][2]string{{"demo/Chart.yaml", minimalChartYAML}, {"demo/values.yaml", "replicas: 1\n"}, {"demo/templates/cm2.yaml", "kind: ConfigMap\n"}, {"demo/charts/dep-0.1.0.tgz", sub(plain)}}},
		{"a subchart's file", [][2]string{{"demo/Chart.yaml", minimalChartYAML}, {"demo/values.yaml", "replicas: 1\n"}, {"demo/templates/cm.yaml", "kind: ConfigMap\n"},
			{"demo/charts/dep-0.1.0.tgz", string(plain.tgz(t, [][2]string{{"dep/Chart.yaml", "apiVersion: v2\nname: dep\nversion: 0.1.0\n"}, {"dep/values.yaml", "x: 2\n"}}))}}},
		{"the chart directory", [][2]string{{"other/Chart.yaml", minimalChartYAML}, {"other/values.yaml", "replicas: 1\n"}, {"other/templates/cm.yaml", "kind: ConfigMap\n"}, {"other/charts/dep-0.1.0.tgz", sub(plain)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if digest(plain.tgz(t, tc.files)) == digest(a) {
				t.Errorf("archives differing in %s have the same content digest", tc.name)
			}
		})
	}
	t.Run("refused like LoadArchive", func(t *testing.T) {
		_, err := ContentDigest(bytes.NewReader(makeTgz(t, reg("demo/../x", "x"))), Limits{})
		if !errors.Is(err, ErrInvalidArchive) {
			t.Fatalf("got %v; want ErrInvalidArchive", err)
		}
		_, err = ContentDigest(bytes.NewReader(a), Limits{MaxTotalSize: 10})
		if !errors.Is(err, ErrInvalidArchive) {
			t.Fatalf("over the limits: got %v; want ErrInvalidArchive", err)
		}
	})
}
