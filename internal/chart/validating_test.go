package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// ValidateArchive refuses every archive LoadArchive refuses, with the very same error.
func TestValidateArchiveRefusesAsLoadArchive(t *testing.T) {
	for _, tc := range refusalCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, lerr := LoadArchive(bytes.NewReader(tc.data), tc.lim)
			_, verr := ValidateArchive(bytes.NewReader(tc.data), tc.lim)
			if lerr == nil || verr == nil {
				t.Fatalf("LoadArchive: %v\nValidateArchive: %v\nwant both to refuse", lerr, verr)
			}
			if lerr.Error() != verr.Error() {
				t.Errorf("errors differ:\n LoadArchive:     %v\n ValidateArchive: %v", lerr, verr)
			}
			var ae *ArchiveError
			if !errors.Is(verr, ErrInvalidArchive) || !errors.As(verr, &ae) {
				t.Errorf("ValidateArchive's error %T does not wrap ErrInvalidArchive as an *ArchiveError", verr)
			}
			if errors.Is(lerr, ErrInvalidMetadata) != errors.Is(verr, ErrInvalidMetadata) {
				t.Errorf("ErrInvalidMetadata: LoadArchive %v, ValidateArchive %v", errors.Is(lerr, ErrInvalidMetadata), errors.Is(verr, ErrInvalidMetadata))
			}
		})
	}
}

// ValidateArchive accepts what LoadArchive accepts and returns the same metadata.
func TestValidateArchiveAcceptsAsLoadArchive(t *testing.T) {
	sub := makeTgz(t, reg("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"), reg("sub/values.yaml", "a: 1\n"),
		reg("sub/charts/leaf-1.0.0.tgz", string(makeTgz(t, reg("leaf/Chart.yaml", "name: leaf\nversion: v1.0\n")))))
	tests := map[string][]byte{
		"subcharts": makeTgz(t,
			entry{name: "demo/", typeflag: tar.TypeDir},
			reg("demo/Chart.yaml", "\xEF\xBB\xBF"+minimalChartYAML+"annotations:\n  a: b\ndependencies:\n- name: sub\n  version: ~0.1.0\n  repository: https://example.com/charts\n"),
			reg("demo/values.yaml", "\xEF\xBB\xBFreplicas: 1\n"),
			reg("demo/Chart.lock", "generated: \"2024-01-02T03:04:05Z\"\ndigest: sha256:x\ndependencies: []\n"),
			reg("demo/templates/deploy.yaml", "kind: Deployment\n"),
			reg("demo/charts/sub-0.1.0.tgz", string(sub)),
			reg("demo/charts/sub-0.1.0.tgz.prov", "not parsed"),
			reg("demo/charts/.gitkeep", ""),
			reg("demo/charts/_skipped/values.yaml", "not: [parsed\n"),
			reg("demo/charts/dir/Chart.yaml", "name: dir\nversion: 0.2.0\n"),
			reg("demo/charts/dir/requirements.yaml", "dependencies:\n- name: inner\n  version: 1.0.0\n"),
			reg("demo/charts/dir/charts/inner/Chart.yaml", "name: inner\nversion: 1.0.0\n"),
			entry{name: "pax_global_header", typeflag: tar.TypeXGlobalHeader},
		),
		"v1 with requirements": makeTgz(t,
			reg("old/requirements.yaml", "dependencies:\n- name: dep\n  version: 1.0.0\n  repository: https://example.com\n"),
			reg("old/Chart.yaml", "name: old\nversion: 0.1.0\ndescription: \"tab\\there\"\n"),
			reg("old/requirements.lock", "dependencies: []\n"),
			reg("old/charts/dep/Chart.yaml", "name: dep\nversion: 1.0.0\n"),
		),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			ch, err := LoadArchive(bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			v, err := ValidateArchive(bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if v.Root != ch.Root || !reflect.DeepEqual(v.Metadata, ch.Metadata) || !bytes.Equal(v.ChartYAML(), ch.ChartYAML()) {
				t.Errorf("ValidateArchive = %q %+v %q\nLoadArchive = %q %+v %q", v.Root, v.Metadata, v.ChartYAML(), ch.Root, ch.Metadata, ch.ChartYAML())
			}
		})
	}
}

func TestValidateArchiveRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "a: &a %q\nb:\n", strings.Repeat("x", 1<<20))
	for i := 0; i < 3000; i++ {
		b.WriteString("- *a\n")
	}
	bomb := b.String()
	subChart := reg("sub/Chart.yaml", "name: sub\nversion: 0.1.0\n")
	for name, tgz := range map[string][]byte{
		"values.yaml":               makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/values.yaml", bomb)),
		"requirements.yaml":         makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/requirements.yaml", bomb)),
		"Chart.lock":                makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/Chart.lock", bomb)),
		"Chart.yaml":                makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML+"x: &x "+strings.Repeat("y", 1<<20)+"\nz: [*x, *x, *x, *x, *x, *x, *x, *x, *x]\n")),
		"values.yaml of a subchart": makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), reg("demo/charts/sub/values.yaml", bomb)),
		"values.yaml in charts/*.tgz": makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML),
			reg("demo/charts/sub-0.1.0.tgz", string(makeTgz(t, subChart, reg("sub/values.yaml", bomb))))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ValidateArchive(bytes.NewReader(tgz), Limits{})
			if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "aliases") {
				t.Fatalf("ValidateArchive = %v, want a refusal naming the aliases", err)
			}
		})
	}
}

// zeroArchive writes a valid chart archive holding, besides Chart.yaml, n files of size
// zero bytes each (under templates/, or inside a subchart archive when nested): the audit's
// archive, 96 KB compressed and 95 MiB decompressed for n = 19, size = 5 MiB.
func zeroArchive(t testing.TB, n int, size int64, nested bool) []byte {
	t.Helper()
	inner := func(root, chartYAML, dir string) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: root + "/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML)), Typeflag: tar.TypeReg})
		tw.Write([]byte(chartYAML))
		for i := 0; i < n && dir != ""; i++ {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("%s/%s/zeros-%02d.txt", root, dir, i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
			if _, err := io.Copy(tw, io.LimitReader(zeros{}, size)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		return buf.Bytes()
	}
	if !nested {
		return inner("demo", minimalChartYAML, "templates")
	}
	sub := inner("sub", "name: sub\nversion: 0.1.0\n", "files")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		data []byte
	}{{"demo/Chart.yaml", []byte(minimalChartYAML)}, {"demo/charts/sub-0.1.0.tgz", sub}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write(f.data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestValidateArchiveMemory: the audit's archive (96 KB that decompress to 95 MiB, in files
// under the per-file limit) is validated in a few hundred KiB, where loading it holds all of
// it; the same when the bulk sits in a subchart archive.
func TestValidateArchiveMemory(t *testing.T) {
	const budget = 1 << 20
	for _, nested := range []bool{false, true} {
		t.Run(fmt.Sprintf("nested=%v", nested), func(t *testing.T) {
			data := zeroArchive(t, 19, 5<<20, nested)
			if len(data) > 200<<10 {
				t.Fatalf("the test archive has %d bytes, want about 96 KB", len(data))
			}
			var err error
			got := allocated(func() { _, err = ValidateArchive(bytes.NewReader(data), Limits{}) })
			if err != nil {
				t.Fatal(err)
			}
			loaded := allocated(func() { _, err = LoadArchive(bytes.NewReader(data), Limits{}) })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d-byte archive: ValidateArchive allocated %d KiB, LoadArchive %d KiB", len(data), got>>10, loaded>>10)
			if loaded < 95<<20 {
				t.Fatalf("LoadArchive allocated only %d bytes: the measure does not see the archive's content", loaded)
			}
			if got > budget {
				t.Errorf("ValidateArchive allocated %d bytes validating a %d-byte archive, want under %d: it holds content it does not need", got, len(data), budget)
			}
		})
	}
}
