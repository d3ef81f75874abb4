//go:build !chartroom_norender

package servertest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/server/servertest"
)

// TestServedVersionImages: the whole server, as `chartroom serve` assembles it, answers
// GET /api/<ns>/charts/<name>/<version> with the images a chart uploaded to it deploys.
func TestServedVersionImages(t *testing.T) {
	const password = "correct horse battery staple"
	srv := servertest.Start(t, password)
	do := func(method, path string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	archive := charttest.Files(t, "web", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: web\nversion: 1.0.0\n",
		"templates/cronjob.yaml": "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  schedule: \"@daily\"\n" +
			"  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n            - name: job\n              image: acme/job:1\n",
	})
	if code, body := do(http.MethodPost, "/api/team/charts", archive); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	code, body := do(http.MethodGet, "/api/team/charts/web/1.0.0", nil)
	var got struct {
		Images []struct {
			Image, Name, Source string
		} `json:"images"`
	}
	if err := json.Unmarshal(body, &got); err != nil || code != http.StatusOK {
		t.Fatalf("%d %s: %v", code, body, err)
	}
	if len(got.Images) != 1 || got.Images[0].Image != "acme/job:1" || got.Images[0].Name != "job" || got.Images[0].Source != "rendered" {
		t.Errorf("images: %s", body)
	}
}
