package chart

import (
	"bytes"
	"errors"
	"testing"
)

// One walker reads archive after archive, whatever the previous one was: its decompressor
// and buffers carry nothing over. It returns only the files keep accepts, and what it refuses
// LoadArchive refuses with the same error (LoadArchive refuses more: the content of
// Chart.yaml, values.yaml, subcharts).
func TestArchiveWalkerReuse(t *testing.T) {
	good := makeTgz(t, reg("demo/Chart.yaml", "\xEF\xBB\xBF"+minimalChartYAML), reg("demo/values.yaml", "a: 1\n"), reg("demo/templates/x.yaml", "kind: X\n"))
	other := makeTgz(t, reg("other/Chart.yaml", "apiVersion: v2\nname: other\nversion: 2.0.0\n"), reg("other/README.md", "hi"))
	keep := func(rel string) bool { return rel == ChartfileName }
	var w ArchiveWalker
	for i, tc := range refusalCases(t) {
		_, loadErr := LoadArchive(bytes.NewReader(tc.data), tc.lim)
		_, files, err := w.Walk(bytes.NewReader(tc.data), tc.lim, keep)
		var ae *ArchiveError
		if err != nil && (!errors.As(err, &ae) || err.Error() != loadErr.Error()) {
			t.Errorf("%s: Walk: %v\nLoadArchive: %v", tc.name, err, loadErr)
		}
		if err == nil && len(files) > 1 {
			t.Errorf("%s: Walk kept %d files", tc.name, len(files))
		}
		// The next archive reads fine after each refusal.
		archive, name := good, "demo"
		if i%2 == 1 {
			archive, name = other, "other"
		}
		root, files, err := w.Walk(bytes.NewReader(archive), Limits{}, keep)
		if err != nil || root != name || len(files) != 1 || files[0].Name != ChartfileName || bytes.HasPrefix(files[0].Data, utf8BOM) {
			t.Fatalf("after %s: %q %v %v", tc.name, root, files, err)
		}
	}
}
