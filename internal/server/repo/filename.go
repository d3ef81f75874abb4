package repo

import (
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

// nameVersion is one reading of an archive file name.
type nameVersion struct {
	name, version string
}

// isVersion reports whether s is a strict SemVer 2 version, as chart versions are.
func isVersion(s string) bool {
	_, err := semver.StrictNewVersion(s)
	return err == nil
}

// splitArchiveName reads "<name>-<version>" (an archive file name without .tgz). Both parts
// may contain dashes (my-app-1.0.0-rc-1), so the split is found with SemVer: at each dash
// followed by a valid version, first the leftmost. Chart names have no dots, so the leftmost
// reading is the one with a dot-free name; the others (a dotted name such as a-1.0.0 with
// version 2.0.0, against a with 1.0.0-2.0.0) follow, and callers try them in order.
func splitArchiveName(base string) []nameVersion {
	var out []nameVersion
	for i := 0; i < len(base); i++ {
		if base[i] != '-' || i == 0 {
			continue
		}
		if v := base[i+1:]; isVersion(v) {
			out = append(out, nameVersion{name: base[:i], version: v})
		}
	}
	return out
}

// archiveFile is what an archive path names: the readings of its file name, and whether it
// is the provenance file.
func archiveFile(file string) (readings []nameVersion, prov bool) {
	base, prov := strings.CutSuffix(file, ".prov")
	base, ok := strings.CutSuffix(base, ".tgz")
	if !ok {
		return nil, prov
	}
	return splitArchiveName(base), prov
}

// archiveName is the file name of a chart version's archive.
func archiveName(name, version string) string { return chart.ArchiveName(name, version) }
