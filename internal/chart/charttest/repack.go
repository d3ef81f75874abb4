package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"testing"
	"time"
)

// Repackaged returns archive packed again with the same files but other packaging: every
// entry stamped with mtime, owned by uid 1000, entries in reverse order, and a gzip header
// with a name and time, at the best compression. Helm loads the same chart from both; their
// bytes and digests differ.
func Repackaged(t testing.TB, archive []byte, mtime time.Time) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("charttest: %v", err)
	}
	type file struct {
		hdr  *tar.Header
		body []byte
	}
	var files []file
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("charttest: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("charttest: %v", err)
		}
		files = append(files, file{hdr, body})
	}
	slices.Reverse(files)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Header = gzip.Header{Name: "repackaged.tar", ModTime: mtime, Comment: "repackaged"}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.hdr.Name, Typeflag: f.hdr.Typeflag, Size: f.hdr.Size, Mode: f.hdr.Mode,
			ModTime: mtime, Uid: 1000, Gid: 1000, Uname: "builder", Gname: "builder"}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("charttest: %v", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatalf("charttest: %v", err)
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
