package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name     string
	body     string
	typeflag byte
	linkname string
	size     int64 // header size override when > 0
}

func reg(name, body string) entry { return entry{name: name, body: body, typeflag: tar.TypeReg} }

const minimalChartYAML = "apiVersion: v2\nname: demo\nversion: 1.2.3\n"

// makeTgz builds a gzip tar from entries.
func makeTgz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typeflag, Linkname: e.linkname, Mode: 0o644, Size: int64(len(e.body))}
		if e.typeflag == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: e.typeflag, PAXRecords: map[string]string{"comment": "x"}}
		}
		if e.typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if e.size > 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("header %s: %v", e.name, err)
		}
		if e.typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil && e.size == 0 {
				t.Fatalf("body %s: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil && !bytesLie(entries) {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func bytesLie(entries []entry) bool {
	for _, e := range entries {
		if e.size > 0 {
			return true
		}
	}
	return false
}

// writeTree writes files (path → content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
