package client

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	helmregistry "helm.sh/helm/v3/pkg/registry"
	"oras.land/oras-go/v2/content"

	"github.com/chartroom/chartroom/internal/chart"
)

// The artifact chartroom makes of a chart, whether `chartroom push` sends it over OCI or the
// server builds it for an archive uploaded over the classic API, is the one Helm's own code
// (helm.sh/helm/v3 pkg/registry Client.Push, what `helm push` runs) makes of the same
// archive: the same manifest bytes, so the same digest.
func TestArtifactIsHelmPushs(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	helm, err := helmregistry.NewClient(helmregistry.ClientOptPlainHTTP(), helmregistry.ClientOptWriter(io.Discard),
		helmregistry.ClientOptBasicAuth(testUser, testPassword))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	src := filepath.Join(dir, "src", "myapp")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// Every field helm push turns into an annotation, a chart annotation helm lets override
	// one of them and one it does not, and build metadata in the version.
	chartYAML := "apiVersion: v2\nname: myapp\nversion: 1.2.3-rc.1+build.7\ndescription: \"A chart\\twith a tab\"\n" +
		"home: https://example.com\nsources: [https://example.com/src, https://example.com/mirror]\n" +
		"maintainers:\n  - name: Jane\n    email: jane@example.com\n  - name: Bob\n  - email: anon@example.com\n" +
		"annotations:\n  org.opencontainers.image.source: https://example.com/override\n  org.opencontainers.image.title: hijack\n  example.com/team: platform\n"
	if err := os.WriteFile(filepath.Join(src, chart.ChartfileName), []byte(chartYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	archive, _, err := chart.PackageToDir(ctx, src, dir, chart.PackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("CEST", 2*3600))
	if err := os.Chtimes(archive, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	newTestSigner(t, "Publisher").sign(t, archive)
	data, prov := readFile(t, archive), readFile(t, archive+".prov")

	manifest := func(repo, tag string) ([]byte, ocispec.Manifest) {
		t.Helper()
		r, err := c.repository(srv.host, repo)
		if err != nil {
			t.Fatal(err)
		}
		desc, rc, err := r.FetchReference(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := content.ReadAll(rc, desc)
		if err != nil {
			t.Fatal(err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return b, m
	}
	helmPush := func(ns, created string) []byte {
		t.Helper()
		if _, err := helm.Push(data, srv.host+"/"+ns+"/myapp:1.2.3-rc.1+build.7",
			helmregistry.PushOptProvData(prov), helmregistry.PushOptCreationTime(created)); err != nil {
			t.Fatal(err)
		}
		b, _ := manifest(ns+"/myapp", "1.2.3-rc.1_build.7")
		return b
	}

	t.Run("chartroom push", func(t *testing.T) {
		if _, err := c.Push(ctx, archive, srv.oci("team")); err != nil {
			t.Fatal(err)
		}
		got, _ := manifest("team/myapp", "1.2.3-rc.1_build.7")
		st, err := os.Stat(archive)
		if err != nil {
			t.Fatal(err)
		}
		// helm push's created annotation: the archive's mtime in local time (pkg/pusher).
		want := helmPush("helm", st.ModTime().Format(time.RFC3339))
		if string(got) != string(want) {
			t.Errorf("chartroom push made\n%s\nhelm push makes\n%s", got, want)
		}
	})

	t.Run("upload over the classic API", func(t *testing.T) {
		if _, err := c.Push(ctx, archive, srv.repo("classic")); err != nil {
			t.Fatal(err)
		}
		got, m := manifest("classic/myapp", "1.2.3-rc.1_build.7")
		created := m.Annotations[ocispec.AnnotationCreated]
		if _, err := time.Parse(time.RFC3339, created); err != nil {
			t.Fatalf("created annotation %q: %v", created, err)
		}
		want := helmPush("helmclassic", created)
		if string(got) != string(want) {
			t.Errorf("the server made\n%s\nhelm push makes\n%s", got, want)
		}
	})
}
