package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLoadArchiveAccepts(t *testing.T) {
	sub := makeTgz(t, reg("sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"))
	data := makeTgz(t,
		entry{name: "demo/", typeflag: tar.TypeDir},
		reg("demo/Chart.yaml", "\xEF\xBB\xBF"+minimalChartYAML+"dependencies:\n- name: sub\n  version: ~0.1.0\n  repository: https://example.com/charts\n"),
		reg("demo/values.yaml", "replicas: 1\n"),
		entry{name: "demo/templates/", typeflag: tar.TypeDir},
		entry{name: "demo/templates/", typeflag: tar.TypeDir}, // repeated directory: harmless
		reg("demo/templates/deploy.yaml", "kind: Deployment\n"),
		reg("demo/charts/sub-0.1.0.tgz", string(sub)),
		reg("demo/charts/sub-0.1.0.tgz.prov", "not parsed"),
		reg("demo/charts/.gitkeep", ""),
		entry{name: "pax_global_header", typeflag: tar.TypeXGlobalHeader},
	)
	ch, err := LoadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Root != "demo" || ch.Metadata.Name != "demo" || ch.Metadata.Version != "1.2.3" {
		t.Errorf("root/metadata = %q %+v", ch.Root, ch.Metadata)
	}
	if string(ch.ChartYAML()) != minimalChartYAML+"dependencies:\n- name: sub\n  version: ~0.1.0\n  repository: https://example.com/charts\n" {
		t.Errorf("Chart.yaml BOM not stripped: %q", ch.ChartYAML())
	}
	if string(ch.Values()) != "replicas: 1\n" {
		t.Errorf("values = %q", ch.Values())
	}
	var names []string
	for _, f := range ch.Files {
		names = append(names, f.Name)
	}
	want := "Chart.yaml charts/.gitkeep charts/sub-0.1.0.tgz charts/sub-0.1.0.tgz.prov templates/deploy.yaml values.yaml"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	if len(ch.Dependencies) != 1 || ch.Dependencies[0].Metadata.Name != "sub" || ch.Dependencies[0].Path != "charts/sub-0.1.0.tgz" {
		t.Errorf("dependencies = %+v", ch.Dependencies)
	}
}

func TestLoadArchiveSubchartVersionsAreLenient(t *testing.T) {
	data := makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/charts/dev/Chart.yaml", "apiVersion: v2\nname: dev\nversion: v0.1.0\n"))
	if _, err := LoadArchive(bytes.NewReader(data), Limits{}); err != nil {
		t.Errorf("subchart with a Helm-accepted version refused: %v", err)
	}
	data = makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/charts/dev/Chart.yaml", "apiVersion: v2\nname: dev\nversion: latest\n"))
	if _, err := LoadArchive(bytes.NewReader(data), Limits{}); !errors.Is(err, ErrInvalidMetadata) {
		t.Errorf("subchart with an invalid version: %v", err)
	}
}

func TestLoadArchiveV1Defaults(t *testing.T) {
	data := makeTgz(t,
		reg("old/Chart.yaml", "name: old\nversion: 0.1.0\n"),
		reg("old/requirements.yaml", "dependencies:\n- name: dep\n  version: 1.0.0\n  repository: https://example.com\n"),
		reg("old/charts/dep/Chart.yaml", "name: dep\nversion: 1.0.0\n"),
	)
	ch, err := LoadArchive(bytes.NewReader(data), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.APIVersion != APIVersionV1 {
		t.Errorf("apiVersion = %q, want v1", ch.Metadata.APIVersion)
	}
	if len(ch.Metadata.Dependencies) != 1 || ch.Metadata.Dependencies[0].Name != "dep" {
		t.Errorf("requirements.yaml not merged: %+v", ch.Metadata.Dependencies)
	}
}

// refusalCase is an archive LoadArchive (and ValidateArchive) must refuse.
type refusalCase struct {
	name string
	data []byte
	lim  Limits
	want string // substring of the error
}

func refusalCases(t testing.TB) []refusalCase {
	chartYAML := reg("demo/Chart.yaml", minimalChartYAML)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	valid := makeTgz(t, chartYAML, reg("demo/values.yaml", strings.Repeat("a: b\n", 1000)))
	var rawTar bytes.Buffer
	tw := tar.NewWriter(&rawTar)
	tw.WriteHeader(&tar.Header{Name: "demo/Chart.yaml", Mode: 0o644, Size: int64(len(minimalChartYAML))})
	tw.Write([]byte(minimalChartYAML))
	tw.Close()
	corrupt := append([]byte{}, valid...)
	corrupt[len(corrupt)-6] ^= 0xff // CRC32 in the gzip trailer

	// A chain of subchart archives one deeper than maxNesting allows.
	deep := makeTgz(t, reg("leaf/Chart.yaml", "name: leaf\nversion: 0.1.0\n"))
	for i := 0; i <= maxNesting; i++ {
		deep = makeTgz(t, reg(fmt.Sprintf("c%d/Chart.yaml", i), fmt.Sprintf("name: c%d\nversion: 0.1.0\n", i)), reg(fmt.Sprintf("c%d/charts/sub.tgz", i), string(deep)))
	}
	return []refusalCase{
		{"empty input", nil, Limits{}, "empty"},
		{"not gzip", []byte("apiVersion: v2\nname: x\n"), Limits{}, "YAML"},
		{"plain tar", rawTar.Bytes(), Limits{}, "uncompressed tar"},
		{"gzip of non-tar", gz([]byte(strings.Repeat("hello world\n", 100))), Limits{}, "not a tar archive"},
		{"truncated", valid[:len(valid)/2], Limits{}, "truncated"},
		{"truncated trailer", valid[:len(valid)-4], Limits{}, "truncated"},
		{"corrupt checksum", corrupt, Limits{}, "corrupt"},
		{"absolute path", makeTgz(t, chartYAML, reg("/etc/passwd", "x")), Limits{}, "absolute"},
		{"parent dir", makeTgz(t, chartYAML, reg("demo/../../evil", "x")), Limits{}, "parent directory"},
		{"parent dir inside", makeTgz(t, chartYAML, reg("demo/templates/../x", "x")), Limits{}, "parent directory"},
		{"drive letter", makeTgz(t, chartYAML, reg("c:/windows/x", "x")), Limits{}, "drive letter"},
		{"backslash", makeTgz(t, chartYAML, reg(`demo\templates\x.yaml`, "x")), Limits{}, "backslash"},
		{"dot component", makeTgz(t, reg("./demo/Chart.yaml", minimalChartYAML)), Limits{}, "not a clean path"},
		{"double slash", makeTgz(t, chartYAML, reg("demo//x", "x")), Limits{}, "not a clean path"},
		{"symlink", makeTgz(t, chartYAML, entry{name: "demo/templates/x.yaml", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"}), Limits{}, "is a link"},
		{"symlink inside", makeTgz(t, chartYAML, entry{name: "demo/values2.yaml", typeflag: tar.TypeSymlink, linkname: "values.yaml"}), Limits{}, "is a link"},
		{"hardlink", makeTgz(t, chartYAML, entry{name: "demo/x", typeflag: tar.TypeLink, linkname: "demo/Chart.yaml"}), Limits{}, "is a link"},
		{"char device", makeTgz(t, chartYAML, entry{name: "demo/null", typeflag: tar.TypeChar}), Limits{}, "device or FIFO"},
		{"block device", makeTgz(t, chartYAML, entry{name: "demo/sda", typeflag: tar.TypeBlock}), Limits{}, "device or FIFO"},
		{"fifo", makeTgz(t, chartYAML, entry{name: "demo/fifo", typeflag: tar.TypeFifo}), Limits{}, "device or FIFO"},
		{"duplicate", makeTgz(t, chartYAML, reg("demo/values.yaml", "a: 1\n"), reg("demo/values.yaml", "a: 2\n")), Limits{}, "more than once"},
		{"duplicate Chart.yaml", makeTgz(t, chartYAML, chartYAML), Limits{}, "more than once"},
		{"file and directory", makeTgz(t, chartYAML, reg("demo/templates", "x"), reg("demo/templates/a.yaml", "y")), Limits{}, "both file and directory"},
		{"two top-level dirs", makeTgz(t, chartYAML, reg("other/Chart.yaml", minimalChartYAML)), Limits{}, "exactly one top-level directory"},
		{"top-level file", makeTgz(t, reg("Chart.yaml", minimalChartYAML)), Limits{}, "file at the top level"},
		{"no files", makeTgz(t, entry{name: "demo/", typeflag: tar.TypeDir}), Limits{}, "no files"},
		{"missing Chart.yaml", makeTgz(t, reg("demo/values.yaml", "a: 1\n")), Limits{}, "Chart.yaml\": is missing"},
		{"Chart.yaml in subdir only", makeTgz(t, reg("demo/sub/Chart.yaml", minimalChartYAML)), Limits{}, "is missing"},
		{"invalid Chart.yaml", makeTgz(t, reg("demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: v1.0.0\n")), Limits{}, "drop the leading v"},
		{"bad YAML", makeTgz(t, reg("demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 1.0.0\n  bad: [\n")), Limits{}, "Chart.yaml:4"},
		{"bad values", makeTgz(t, chartYAML, reg("demo/values.yaml", "a: [\n")), Limits{}, "values.yaml"},
		{"bad lock", makeTgz(t, chartYAML, reg("demo/Chart.lock", "generated: notatime\n")), Limits{}, "Chart.lock"},
		{"bad subchart", makeTgz(t, chartYAML, reg("demo/charts/sub/values.yaml", "a: 1\n")), Limits{}, "invalid subchart"},
		{"stray file in charts", makeTgz(t, chartYAML, reg("demo/charts/README.md", "hi")), Limits{}, "is not a chart"},
		{"bad nested archive", makeTgz(t, chartYAML, reg("demo/charts/sub-1.0.0.tgz", "not gzip")), Limits{}, "not gzip"},
		{"file over per-file limit", makeTgz(t, chartYAML, reg("demo/big", strings.Repeat("x", 2000))), Limits{MaxFileSize: 1000}, "per-file limit"},
		{"total over limit", makeTgz(t, chartYAML, reg("demo/a", strings.Repeat("x", 600)), reg("demo/b", strings.Repeat("x", 600))), Limits{MaxTotalSize: 1000}, "total limit"},
		{"default per-file limit (bomb)", makeTgz(t, chartYAML, reg("demo/bomb", strings.Repeat("\x00", 5<<20+1))), Limits{}, "per-file limit of 5242880"},
		{"header size lies", makeTgz(t, chartYAML, entry{name: "demo/x", typeflag: tar.TypeReg, body: "short", size: 4096}), Limits{}, "truncated"},
		{"name too long", makeTgz(t, chartYAML, reg("demo/"+strings.Repeat("a", 4092), "x")), Limits{}, "more than the 4096 a path may have"},
		{"too many entries", makeTgz(t, chartYAML, reg("demo/a", ""), reg("demo/b", "")), Limits{MaxEntries: 2}, "more than 2 entries"},
		{"nested archive counts towards total", makeTgz(t, chartYAML,
			reg("demo/charts/sub-0.1.0.tgz", string(makeTgz(t, reg("sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), reg("sub/big", strings.Repeat("y", 900)))))),
			Limits{MaxTotalSize: 1000}, "total limit"},
		{"bad values in a nested archive", makeTgz(t, chartYAML,
			reg("demo/charts/sub-0.1.0.tgz", string(makeTgz(t, reg("sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), reg("sub/values.yaml", "a: [\n"))))),
			Limits{}, "values.yaml"},
		{"bad lock in a subchart directory", makeTgz(t, chartYAML, reg("demo/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), reg("demo/charts/sub/Chart.lock", "generated: notatime\n")),
			Limits{}, "Chart.lock"},
		{"bad nested archive in a subchart directory", makeTgz(t, chartYAML, reg("demo/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), reg("demo/charts/sub/charts/x-1.0.0.tgz", "not gzip")),
			Limits{}, "not gzip"},
		{"truncated nested archive", makeTgz(t, chartYAML, reg("demo/charts/sub-0.1.0.tgz", string(valid[:len(valid)/2]))), Limits{}, "truncated"},
		{"nested archive with a link", makeTgz(t, chartYAML,
			reg("demo/charts/sub-0.1.0.tgz", string(makeTgz(t, reg("sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"), entry{name: "sub/x", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})))),
			Limits{}, "is a link"},
		{"nested archive too deep", deep, Limits{}, "more than 16 deep"},
		{"nested archive and a directory of its name", makeTgz(t, chartYAML, reg("demo/charts/sub-0.1.0.tgz", "x"), reg("demo/charts/sub-0.1.0.tgz/Chart.yaml", "y")), Limits{}, "both file and directory"},
		{"directory named like an archive", makeTgz(t, chartYAML, reg("demo/charts/sub-0.1.0.tgz/Chart.yaml", minimalChartYAML)), Limits{}, "named like an archive"},
	}
}

func TestLoadArchiveRefuses(t *testing.T) {
	for _, tc := range refusalCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadArchive(bytes.NewReader(tc.data), tc.lim)
			if err == nil {
				t.Fatal("accepted, want refusal")
			}
			if !errors.Is(err, ErrInvalidArchive) {
				t.Errorf("error %v does not wrap ErrInvalidArchive", err)
			}
			var ae *ArchiveError
			if !errors.As(err, &ae) {
				t.Errorf("error %T is not an *ArchiveError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v\nwant it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadArchiveMetadataErrorIsTyped(t *testing.T) {
	_, err := LoadArchive(bytes.NewReader(makeTgz(t, reg("demo/Chart.yaml", "apiVersion: v3\nname: demo\nversion: 1.0.0\n"))), Limits{})
	if !errors.Is(err, ErrInvalidMetadata) || !errors.Is(err, ErrInvalidArchive) {
		t.Fatalf("err = %v, want both ErrInvalidArchive and ErrInvalidMetadata", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "apiVersion" {
		t.Errorf("want a FieldError for apiVersion, got %v", err)
	}
}

// TestLoadArchiveRefusesAliasBombs: a values.yaml (or requirements.yaml, Chart.lock) whose
// anchors and aliases expand to gigabytes is refused before anything is expanded; the audit's
// 1.2 KB archive took the server down with "out of memory".
func TestLoadArchiveRefusesAliasBombs(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "a: &a %q\nb:\n", strings.Repeat("x", 1<<20))
	for i := 0; i < 3000; i++ {
		b.WriteString("- *a\n")
	}
	bomb := b.String()
	for _, file := range []string{"values.yaml", "requirements.yaml", "Chart.lock"} {
		t.Run(file, func(t *testing.T) {
			tgz := makeTgz(t, reg("demo/Chart.yaml", minimalChartYAML), reg("demo/"+file, bomb))
			if len(tgz) > 8<<10 {
				t.Fatalf("the test archive has %d bytes; the attack needs only a few KB", len(tgz))
			}
			_, err := LoadArchive(bytes.NewReader(tgz), Limits{})
			if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "aliases") {
				t.Fatalf("LoadArchive = %v, want a refusal naming the aliases", err)
			}
		})
	}
}
