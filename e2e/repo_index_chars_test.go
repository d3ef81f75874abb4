package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepoIndexControlCharacters: a chart whose Chart.yaml annotations hold characters YAML
// does not allow raw (U+007F, a C1 control, U+FEFF, written as YAML escapes in Chart.yaml,
// which helm's loader accepts) and a key longer than YAML's 1024-character implicit keys is
// uploaded, over the API and with helm push; helm v3 and v4 still read the namespace's
// index.yaml and its JSON form, and find every chart in it. Before, helm refused the whole
// index: "control characters are not allowed".
func TestRepoIndexControlCharacters(t *testing.T) {
	longKey := "example.com/" + strings.Repeat("k", 1100)
	chartYAML := "apiVersion: v2\nname: odd\nversion: 1.0.0\nannotations:\n" +
		"  example.com/note: \"del\\x7Fnel\\u0085c1\\x9Bbom\\uFEFFend\"\n" +
		"  ? " + longKey + "\n  : long\n" // explicit: an implicit key has at most 1024 characters
	wantNote := "del\x7fnel\u0085c1\u009bbom\ufeffend"
	archive := func(name, version string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		body := strings.Replace(strings.Replace(chartYAML, "name: odd", "name: "+name, 1), "version: 1.0.0", "version: "+version, 1)
		tw.WriteHeader(&tar.Header{Name: name + "/Chart.yaml", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			c := adminClient(srv)
			e := newToolEnv(t)

			repoUploadArchive(t, c, "team", archive("odd", "1.0.0"))
			// The same annotations over OCI, as helm push puts them in the config.
			ociChart := filepath.Join(t.TempDir(), "oddoci-1.0.0.tgz")
			if err := os.WriteFile(ociChart, archive("oddoci", "1.0.0"), 0o644); err != nil {
				t.Fatal(err)
			}
			e.must(helm, "registry", "login", srv.Host(), "--username", "admin", "--password", srv.Password, "--plain-http")
			e.must(helm, "push", ociChart, "oci://"+srv.Host()+"/team", "--plain-http")
			// An ordinary chart next to them: helm must not lose it either.
			repoUploadArchive(t, c, "team", repoArchive(t, "plain", "1.0.0", "x"))

			for _, u := range []string{"http://" + srv.Host() + "/team", "http://" + srv.Host() + "/team?format=json"} {
				e.must(helm, "repo", "add", "team", u, "--username", "admin", "--password", srv.Password, "--force-update")
				e.must(helm, "repo", "update", "team")
				out := e.must(helm, "search", "repo", "team/", "--output", "json")
				for _, name := range []string{"team/odd", "team/oddoci", "team/plain"} {
					if !strings.Contains(out, `"name":"`+name+`"`) {
						t.Errorf("helm search repo through %s lacks %s:\n%s", u, name, out)
					}
				}
			}

			// The index holds the exact strings.
			idx := repoGet(t, c, "/team/index.json", http.StatusOK)
			var parsed struct {
				Entries map[string][]struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(idx, &parsed); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"odd", "oddoci"} {
				if v := parsed.Entries[name]; len(v) != 1 || v[0].Annotations["example.com/note"] != wantNote || v[0].Annotations[longKey] != "long" {
					t.Errorf("index.json entry of %s: %+v", name, v)
				}
			}
		})
	}
}

// repoUploadArchive posts archive bytes to the upload API and fails unless it answers 201.
func repoUploadArchive(t testing.TB, c *ociClient, ns string, archive []byte) {
	t.Helper()
	resp, body, err := c.do("POST", repoAPI(ns, "charts"), archive, map[string]string{"Content-Type": "application/gzip"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %v %v %s", err, resp, body)
	}
}
