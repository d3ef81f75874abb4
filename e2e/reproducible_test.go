package e2e

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRepackagedChartRefusedWithTheReason: an archive helm v4 packaged without
// SOURCE_DATE_EPOCH is published; the same chart packaged with it differs only in its
// timestamps. Pushing it is refused over both protocols, and the refusal says that only the
// packaging differs and how to package reproducibly, not merely "different content".
func TestRepackagedChartRefusedWithTheReason(t *testing.T) {
	t.Parallel()
	helm := need(t, helm4)
	srv := StartServer(t)
	e := newToolEnv(t)
	c := adminClient(srv)
	host, plain := srv.Host(), "--plain-http"
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)

	work := t.TempDir()
	src := filepath.Join(work, "src", "stamped")
	checkWriteChart(t, src, map[string]string{
		"Chart.yaml":               "apiVersion: v2\nname: stamped\nversion: 1.0.0\n",
		"values.yaml":              "replicas: 1\n",
		"templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	})
	first, second := filepath.Join(work, "first"), filepath.Join(work, "second")
	e.must(helm, "package", src, "--destination", first)
	epoch := *e
	epoch.env = append(slices.Clone(e.env), "SOURCE_DATE_EPOCH=1700000000")
	epoch.must(helm, "package", src, "--destination", second)
	a, b := filepath.Join(first, "stamped-1.0.0.tgz"), filepath.Join(second, "stamped-1.0.0.tgz")
	if bytes.Equal(readFile(t, a), readFile(t, b)) {
		t.Fatal("helm package made the same bytes with and without SOURCE_DATE_EPOCH; the test needs them to differ")
	}
	e.must(helm, "push", a, "oci://"+host+"/team", plain)

	wants := []string{"holds the same chart", "packaged differently", "SOURCE_DATE_EPOCH"}
	t.Run("helm push", func(t *testing.T) {
		out, err := e.run(helm, "push", b, "oci://"+host+"/team", plain)
		if err == nil {
			t.Fatalf("the repackaged archive was accepted:\n%s", out)
		}
		for _, w := range append(wants, "409") {
			if !strings.Contains(out, w) {
				t.Errorf("helm push's error lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("chartroom push", func(t *testing.T) {
		r := e.tcRun("", "", nil, "push", b, "oci://"+host+"/team", plain)
		if r.code == 0 || !strings.Contains(r.stderr, "only the packaging differs") || strings.Contains(r.stderr, "different content") {
			t.Errorf("chartroom push of the repackaged archive: exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("upload API", func(t *testing.T) {
		resp, body, err := c.do("POST", repoAPI("team", "charts"), readFile(t, b), map[string]string{"Content-Type": "application/gzip"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("upload of the repackaged archive = %d %s; want 409", resp.StatusCode, body)
		}
		for _, w := range wants {
			if !strings.Contains(string(body), w) {
				t.Errorf("the 409 lacks %q: %s", w, body)
			}
		}
	})
	if logs := srv.Logs(); !strings.Contains(logs, `"reason":"immutable"`) {
		t.Errorf("no request line with reason immutable:\n%s", tail(logs, 20))
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
