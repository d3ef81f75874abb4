// Package charttest builds chart archives for tests: valid charts of a given name and
// version, archives of chosen files, and hostile archives entry by entry (lying sizes,
// links, absolute paths), so that tests do not each carry their own tar writer.
package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sort"
	"testing"
)

// Entry is one entry of a test archive.
type Entry struct {
	Name string
	Body string
	// Type is the tar type flag; 0 means a regular file.
	Type byte
	// Size, when > 0, makes the entry a regular file of this many zero bytes (Body ignored).
	Size int64
	// Link is the target of a symbolic or hard link.
	Link string
}

// Tgz packs entries, in their order, as a gzip tar.
func Tgz(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Name, Mode: 0o644, Typeflag: e.Type, Linkname: e.Link}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
			if e.Size > 0 {
				hdr.Size = e.Size
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("charttest: entry %s: %v", e.Name, err)
		}
		var err error
		switch {
		case e.Size > 0:
			_, err = io.CopyN(tw, zeros{}, e.Size)
		case hdr.Typeflag == tar.TypeReg:
			_, err = tw.Write([]byte(e.Body))
		}
		if err != nil {
			t.Fatalf("charttest: entry %s: %v", e.Name, err)
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

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// Files packs files (path under the chart's directory → content) as the archive of a chart
// whose directory is root, in path order.
func Files(t testing.TB, root string, files map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	entries := make([]Entry, len(names))
	for i, n := range names {
		entries[i] = Entry{Name: root + "/" + n, Body: files[n]}
	}
	return Tgz(t, entries...)
}

// Archive returns a valid chart archive of name and version: Chart.yaml (apiVersion v2,
// appVersion "app-<version>", description "Test chart <name>", then the chartYAML lines),
// values.yaml and a ConfigMap template holding note, so that archives of one version with
// other notes differ.
func Archive(t testing.TB, name, version, note string, chartYAML ...string) []byte {
	t.Helper()
	meta := fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: \"app-%s\"\ndescription: Test chart %s\n", name, version, version, name)
	for _, l := range chartYAML {
		meta += l + "\n"
	}
	return Tgz(t,
		Entry{Name: name + "/Chart.yaml", Body: meta},
		Entry{Name: name + "/values.yaml", Body: "replicas: 1\n"},
		Entry{Name: name + "/templates/cm.yaml", Body: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  note: " + fmt.Sprintf("%q", note) + "\n"},
	)
}

// Minimal returns the smallest valid chart archive of name and version: a Chart.yaml of
// apiVersion, name and version only (so the config `helm push` makes of it is exactly those
// three fields), and a values.yaml holding note.
func Minimal(t testing.TB, name, version, note string) []byte {
	t.Helper()
	return Files(t, name, map[string]string{
		"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		"values.yaml": "note: " + fmt.Sprintf("%q", note) + "\n",
	})
}
