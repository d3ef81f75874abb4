package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartImagesOfAHelmChart: the chart `helm create` makes, with an artifacthub.io/images
// annotation added, pushed by the real helm over OCI: the API's answer about the version
// lists the image its Deployment runs with default values (the one `helm template` prints,
// not the `helm test` hook's) and the declared one.
func TestChartImagesOfAHelmChart(t *testing.T) {
	helm := need(t, helm3)
	srv := StartServer(t)
	e := newToolEnv(t)
	host := srv.Host()
	e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, "--plain-http")

	work := t.TempDir()
	src := filepath.Join(work, "demo")
	e.must(helm, "create", src)
	f, err := os.OpenFile(filepath.Join(src, "Chart.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("annotations:\n  artifacthub.io/images: |\n    - name: scanner\n      image: ghcr.io/acme/scanner:2.0\n")
	f.Close()
	e.must(helm, "package", src, "--destination", work)
	tgz := filepath.Join(work, "demo-0.1.0.tgz")
	e.must(helm, "push", tgz, "oci://"+host+"/team", "--plain-http")

	// What helm template runs: the Deployment's image (the test hook's is busybox).
	var deployed string
	for _, line := range strings.Split(e.must(helm, "template", tgz), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "image: "); ok && !strings.Contains(v, "busybox") {
			deployed = strings.Trim(v, `"`)
		}
	}
	if deployed == "" {
		t.Fatal("helm template of the created chart shows no image")
	}

	resp, body, err := adminClient(srv).do("GET", "/api/team/charts/demo/0.1.0", nil, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the version: %v %s", err, body)
	}
	var got struct {
		Images []struct {
			Image  string `json:"image"`
			Source string `json:"source"`
		} `json:"images"`
		ImagesError string `json:"imagesError"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"ghcr.io/acme/scanner:2.0", "declared"}, {deployed, "rendered"}}
	if len(got.Images) != len(want) || got.ImagesError != "" {
		t.Fatalf("images: %s\nwant %v", body, want)
	}
	for i, w := range want {
		if got.Images[i].Image != w[0] || got.Images[i].Source != w[1] {
			t.Errorf("image %d: %+v, want %v", i, got.Images[i], w)
		}
	}
}
