package staticindex

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/chartroom/chartroom/internal/safeyaml"
	"github.com/klauspost/compress/gzip"

	"github.com/chartroom/chartroom/internal/chart"
)

var (
	utf8BOM = []byte{0xEF, 0xBB, 0xBF}
	// aliasRE is Helm's rule for dependency aliases (pkg/chart aliasNameFormat).
	aliasRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// readMetadata returns the metadata of the chart archive in data as Helm v3.22.0's loader
// leaves it for `helm repo index`: Chart.yaml (every top-level Chart.yaml entry, in archive
// order, as Helm merges them) with requirements.yaml merged in, apiVersion defaulted to v1,
// sanitized and validated with Helm's rules.
//
// It applies the archive checks of Helm's LoadArchiveFiles (gzip and tar well-formed,
// decompressed size limits, no absolute, parent or drive-letter paths, Chart.yaml not at the
// top level, at least one file, no lock file that fails to parse). It reads, but does not
// parse, values.yaml, templates and subcharts: those do not appear in an index entry. Helm
// refuses an archive whose values.yaml or subcharts fail to load; this reader indexes it.
//
// zr and br are reset to read data (reusing them saves a decompressor per archive; the
// buffer saves the tar reader many small reads from the decompressor).
func readMetadata(data []byte, lim chart.Limits, zr *gzip.Reader, br *bufio.Reader) (*chart.Metadata, error) {
	if err := zr.Reset(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("not a gzip-compressed chart archive: %w", err)
	}
	br.Reset(zr)
	tr := tar.NewReader(br)

	var chartYAMLs [][]byte
	var requirements []byte
	var locks []string
	lockData := map[string][]byte{}
	files := 0
	remaining := lim.MaxTotalSize
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt archive: %w", err)
		}
		if isDir(hd) || hd.Typeflag == tar.TypeXGlobalHeader || hd.Typeflag == tar.TypeXHeader {
			continue
		}
		name, err := entryName(hd.Name)
		if err != nil {
			return nil, err
		}
		if hd.Size > remaining {
			return nil, fmt.Errorf("decompresses to more than the total limit of %d bytes", lim.MaxTotalSize)
		}
		if hd.Size > lim.MaxFileSize {
			return nil, fmt.Errorf("%q decompresses to more than the per-file limit of %d bytes", hd.Name, lim.MaxFileSize)
		}
		keep := name == chart.ChartfileName || name == chart.RequirementsName ||
			name == chart.LockfileName || name == chart.RequirementsLockName
		var n int64
		var body []byte
		if keep {
			var buf bytes.Buffer
			n, err = io.Copy(&buf, io.LimitReader(tr, remaining))
			body = bytes.TrimPrefix(buf.Bytes(), utf8BOM)
		} else {
			n, err = io.Copy(io.Discard, io.LimitReader(tr, remaining))
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt archive: %w", err)
		}
		remaining -= n
		if n < hd.Size || remaining <= 0 {
			return nil, fmt.Errorf("decompresses to more than the total limit of %d bytes", lim.MaxTotalSize)
		}
		files++
		switch name {
		case chart.ChartfileName:
			chartYAMLs = append(chartYAMLs, body)
		case chart.RequirementsName:
			requirements = body
		case chart.LockfileName, chart.RequirementsLockName:
			locks = append(locks, name)
			lockData[name] = body
		}
	}
	if files == 0 {
		return nil, errors.New("no files in the archive")
	}
	if len(chartYAMLs) == 0 {
		return nil, fmt.Errorf("%s is missing", chart.ChartfileName)
	}
	md := new(chart.Metadata)
	for _, y := range chartYAMLs {
		if err := safeyaml.Unmarshal(y, md); err != nil {
			return nil, fmt.Errorf("%s: %s", chart.ChartfileName, oneLine(err))
		}
	}
	if md.APIVersion == "" {
		md.APIVersion = chart.APIVersionV1
	}
	for _, name := range locks {
		var l chart.Lock
		if err := safeyaml.Unmarshal(lockData[name], &l); err != nil {
			return nil, fmt.Errorf("%s: %s", name, oneLine(err))
		}
	}
	if requirements != nil {
		if err := safeyaml.Unmarshal(requirements, md); err != nil {
			return nil, fmt.Errorf("requirements.yaml: %s", oneLine(err))
		}
	}
	if err := validate(md); err != nil {
		return nil, err
	}
	return md, nil
}

// entryName is Helm's LoadArchiveFiles naming: the first path component (the chart's
// directory) dropped, '\' accepted as separator, the rest cleaned and checked.
func entryName(raw string) (string, error) {
	delim := byte('/')
	if strings.IndexByte(raw, '\\') >= 0 {
		delim = '\\'
	}
	// The first component and the rest, as Split-then-Join-from-1 gives them.
	first, n := raw, ""
	if i := strings.IndexByte(raw, delim); i >= 0 {
		first, n = raw[:i], raw[i+1:]
	}
	if delim != '/' {
		n = strings.ReplaceAll(n, "\\", "/")
	}
	if path.IsAbs(n) {
		return "", fmt.Errorf("entry %q is an absolute path", raw)
	}
	n = path.Clean(n)
	switch {
	case n == ".":
		return "", fmt.Errorf("entry %q is outside the chart directory", raw)
	case strings.HasPrefix(n, ".."):
		return "", fmt.Errorf("entry %q refers to a parent directory", raw)
	case hasDriveLetter(n):
		return "", fmt.Errorf("entry %q starts with a drive letter", raw)
	case first == chart.ChartfileName:
		return "", fmt.Errorf("%s is not inside the chart directory", chart.ChartfileName)
	}
	return n, nil
}

// isDir is hd.FileInfo().IsDir() (what Helm asks) without allocating a FileInfo per entry:
// a directory entry, or mode bits whose file type is a directory (c_ISDIR).
func isDir(hd *tar.Header) bool {
	const cISDIR = 0o40000
	return hd.Typeflag == tar.TypeDir || hd.Mode&^0o7777 == cISDIR
}

// hasDriveLetter reports whether p starts like C:/ (Helm's drive-letter rule, without a
// regular expression on the per-entry path).
func hasDriveLetter(p string) bool {
	if len(p) < 3 || p[1] != ':' || p[2] != '/' {
		return false
	}
	c := p[0] | 0x20 // lower case
	return c >= 'a' && c <= 'z'
}

// errDuplicateDependency is the one validation problem Helm tolerates in an existing
// index (JFrog repositories strip aliases, helm/helm#12748).
var errDuplicateDependency = errors.New("more than one dependency with name or alias")

// validate sanitizes md and checks it with Helm v3.22.0's Metadata.Validate rules, which are
// looser than chart.Metadata.Validate (e.g. "1.2" and "v1.2.3" are versions there).
func validate(md *chart.Metadata) error {
	md.Sanitize()
	switch {
	case md.APIVersion == "":
		return fmt.Errorf("%s: apiVersion is required", chart.ChartfileName)
	case md.Name == "":
		return fmt.Errorf("%s: name is required", chart.ChartfileName)
	case md.Name == "." || md.Name == "..":
		return fmt.Errorf("%s: name %q is not allowed", chart.ChartfileName, md.Name)
	case md.Name != filepath.Base(md.Name):
		return fmt.Errorf("%s: name %q is invalid", chart.ChartfileName, md.Name)
	case md.Version == "":
		return fmt.Errorf("%s: version is required", chart.ChartfileName)
	}
	if _, err := semver.NewVersion(md.Version); err != nil {
		return fmt.Errorf("%s: version %q is not a SemVer version", chart.ChartfileName, md.Version)
	}
	switch md.Type {
	case "", chart.TypeApplication, chart.TypeLibrary:
	default:
		return fmt.Errorf("%s: type must be application or library", chart.ChartfileName)
	}
	for _, m := range md.Maintainers {
		if m == nil {
			return fmt.Errorf("%s: maintainers must not contain empty or null nodes", chart.ChartfileName)
		}
	}
	seen := map[string]bool{}
	for _, d := range md.Dependencies {
		if d == nil {
			return fmt.Errorf("%s: dependencies must not contain empty or null nodes", chart.ChartfileName)
		}
		if d.Alias != "" && !aliasRE.MatchString(d.Alias) {
			return fmt.Errorf("%s: dependency %q has disallowed characters in the alias", chart.ChartfileName, d.Name)
		}
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		if seen[key] {
			return fmt.Errorf("%s: %w %q", chart.ChartfileName, errDuplicateDependency, key)
		}
		seen[key] = true
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
