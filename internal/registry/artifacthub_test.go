package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/artifacthub"
	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

const ahFile = "repositoryID: 5a4b9f1c-7c3d-4e2f-9a1b-0c2d3e4f5a6b\nowners:\n- name: Jane\n  email: jane@example.com\n"

// orasArtifactHub pushes the artifact `oras push <repo>:artifacthub.io --config
// /dev/null:<config type> artifacthub-repo.yml:<layer type>` makes, and returns its digest.
func orasArtifactHub(t *testing.T, e *registrytest.Env, repo, file string) (digest.Digest, error) {
	t.Helper()
	cfg := e.PushBlob(t, repo, artifacthub.ConfigMediaType, nil)
	layer := e.PushBlob(t, repo, artifacthub.LayerMediaType, []byte(file))
	body := registrytest.Manifest(t, cfg, layer)
	_, err := e.PutManifest(context.Background(), registry.PutManifestRequest{
		Repository: repo, Reference: artifacthub.Tag, ContentType: ocispec.MediaTypeImageManifest, Body: body,
	})
	return digest.FromBytes(body), err
}

func setArtifactHub(t *testing.T, e *registrytest.Env, ns, file string) {
	t.Helper()
	var b []byte
	if file != "" {
		b = []byte(file)
	}
	if err := e.DB.SetNamespaceSettings(context.Background(), meta.NamespaceSettings{Namespace: ns, ArtifactHubRepo: b}); err != nil {
		t.Fatal(err)
	}
}

func readBlob(t *testing.T, e *registrytest.Env, repo string, d digest.Digest) ([]byte, error) {
	t.Helper()
	rc, size, err := e.OpenBlob(context.Background(), repo, d, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != size {
		t.Fatalf("blob %s: %d bytes read, size says %d", d, len(b), size)
	}
	return b, err
}

// A namespace's Artifact Hub metadata is served as the artifacthub.io tag of each of its chart
// repositories, consistently: tags/list, the manifest by tag and by digest, its blobs; not in
// other repositories; following every change of the setting; and it cannot be pushed or
// deleted over OCI while it is set. Without the setting, the tag is an ordinary one a user may
// push (as Artifact Hub's docs tell) into a chart repository.
func TestArtifactHubTag(t *testing.T) {
	ctx := context.Background()
	e := registrytest.New(t, registry.Options{})
	const ns, repo = "team/charts", "team/charts/app"
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := e.Publish(t, charttest.Archive(t, "app", v, ""), registry.PublishChartRequest{Namespace: ns}); err != nil {
			t.Fatal(err)
		}
	}
	// web has no tag artifacthub.io of its own: only the served one.
	if _, err := e.Publish(t, charttest.Archive(t, "web", "0.1.0", ""), registry.PublishChartRequest{Namespace: ns}); err != nil {
		t.Fatal(err)
	}
	img := e.PushBlob(t, ns+"/img", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	if _, err := e.PutManifest(ctx, registry.PutManifestRequest{Repository: ns + "/img", Reference: "latest",
		ContentType: ocispec.MediaTypeImageManifest, Body: registrytest.Manifest(t, img)}); err != nil {
		t.Fatal(err)
	}
	tags := func(repo string, n int, last string) []string {
		t.Helper()
		got, err := e.Tags(ctx, repo, n, last)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("without metadata, the tag is the user's", func(t *testing.T) {
		if _, _, err := e.ArtifactHubRepo(ctx, ns); !errors.Is(err, registry.ErrMetadataUnknown) {
			t.Fatalf("ArtifactHubRepo = %v; want ErrMetadataUnknown", err)
		}
		if _, err := e.GetManifest(ctx, repo, artifacthub.Tag, false); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Fatalf("GetManifest = %v; want ErrManifestUnknown", err)
		}
		d, err := orasArtifactHub(t, e, repo, "owners:\n- email: own@example.com\n")
		if err != nil {
			t.Fatalf("oras push of artifacthub.io into a chart repository: %v", err)
		}
		if m, err := e.GetManifest(ctx, repo, artifacthub.Tag, false); err != nil || m.Digest != d {
			t.Fatalf("the pushed tag = %v, %v; want %s", m, err, d)
		}
		if got := tags(repo, 0, ""); !reflect.DeepEqual(got, []string{"1.0.0", "2.0.0", artifacthub.Tag}) {
			t.Fatalf("tags = %v", got)
		}
	})

	setArtifactHub(t, e, ns, ahFile)
	var served *registry.Manifest
	t.Run("served from the setting", func(t *testing.T) {
		file, _, err := e.ArtifactHubRepo(ctx, ns)
		if err != nil || string(file) != ahFile {
			t.Fatalf("ArtifactHubRepo = %q, %v", file, err)
		}
		m, err := e.GetManifest(ctx, repo, artifacthub.Tag, true)
		if err != nil {
			t.Fatal(err)
		}
		served = m
		if m.Digest != digest.FromBytes(m.Content) || m.Size != int64(len(m.Content)) || m.MediaType != ocispec.MediaTypeImageManifest {
			t.Fatalf("manifest %+v does not describe its content", m)
		}
		var doc ocispec.Manifest
		if err := json.Unmarshal(m.Content, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Config.MediaType != artifacthub.ConfigMediaType || doc.Config.Size != 0 || doc.Config.Digest != digest.FromBytes(nil) ||
			len(doc.Layers) != 1 || doc.Layers[0].MediaType != artifacthub.LayerMediaType ||
			doc.Layers[0].Digest != digest.FromString(ahFile) || doc.Layers[0].Annotations[ocispec.AnnotationTitle] != artifacthub.FileName {
			t.Fatalf("manifest %s", m.Content)
		}
		byDigest, err := e.GetManifest(ctx, repo, m.Digest.String(), true)
		if err != nil || string(byDigest.Content) != string(m.Content) {
			t.Fatalf("by digest: %v, %v", byDigest, err)
		}
		for d, want := range map[digest.Digest]string{doc.Config.Digest: "", doc.Layers[0].Digest: ahFile} {
			if got, err := readBlob(t, e, repo, d); err != nil || string(got) != want {
				t.Fatalf("blob %s = %q, %v; want %q", d, got, err, want)
			}
			if size, err := e.StatBlob(ctx, repo, d); err != nil || size != int64(len(want)) {
				t.Fatalf("stat %s = %d, %v", d, size, err)
			}
		}
		if got := tags(repo, 0, ""); !reflect.DeepEqual(got, []string{"1.0.0", "2.0.0", artifacthub.Tag}) {
			t.Errorf("tags = %v; the served tag replaces the user's, listed once", got)
		}
		const web = ns + "/web"
		if m, err := e.GetManifest(ctx, web, artifacthub.Tag, false); err != nil || m.Digest != served.Digest {
			t.Fatalf("web's artifacthub.io = %v, %v; want the same artifact", m, err)
		}
		for _, tc := range []struct {
			n    int
			last string
			want []string
		}{
			{0, "", []string{"0.1.0", artifacthub.Tag}},
			{1, "", []string{"0.1.0"}},
			{2, "", []string{"0.1.0", artifacthub.Tag}},
			{1, "0.1.0", []string{artifacthub.Tag}},
			{0, "0.1.0", []string{artifacthub.Tag}},
			{0, artifacthub.Tag, nil},
			{0, "zzz", nil},
		} {
			if got := tags(web, tc.n, tc.last); len(got)+len(tc.want) > 0 && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("tags n=%d last=%q = %v; want %v", tc.n, tc.last, got, tc.want)
			}
		}
	})
	t.Run("not in other repositories", func(t *testing.T) {
		if _, err := e.GetManifest(ctx, ns+"/img", artifacthub.Tag, false); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Fatalf("an image repository: %v", err)
		}
		if got := tags(ns+"/img", 0, ""); !reflect.DeepEqual(got, []string{"latest"}) {
			t.Fatalf("image repository tags = %v", got)
		}
		if _, err := e.StatBlob(ctx, ns+"/img", digest.FromString(ahFile)); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("the layer in an image repository: %v", err)
		}
		if _, err := e.Publish(t, charttest.Archive(t, "app", "1.0.0", ""), registry.PublishChartRequest{Namespace: "team/other"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.GetManifest(ctx, "team/other/app", artifacthub.Tag, false); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Fatalf("a chart repository of another namespace: %v", err)
		}
	})
	t.Run("not pushed or deleted over OCI", func(t *testing.T) {
		if _, err := orasArtifactHub(t, e, repo, "owners:\n- email: x@example.com\n"); !errors.Is(err, registry.ErrImmutable) {
			t.Fatalf("push: %v; want ErrImmutable", err)
		}
		for _, ref := range []string{artifacthub.Tag, served.Digest.String()} {
			if err := e.DeleteManifest(ctx, repo, ref, ""); !errors.Is(err, registry.ErrImmutable) {
				t.Fatalf("delete %s: %v; want ErrImmutable", ref, err)
			}
		}
	})
	t.Run("a manifest may reference its blobs", func(t *testing.T) {
		// A client that found the empty config there (HEAD) did not upload it.
		cfg := ocispec.Descriptor{MediaType: "application/vnd.example.config", Digest: digest.FromBytes(nil), Size: 0}
		_, err := e.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: "other",
			ContentType: ocispec.MediaTypeImageManifest, Body: registrytest.Manifest(t, cfg)})
		if err != nil {
			t.Fatalf("a manifest referencing the artifact's config: %v", err)
		}
	})
	t.Run("follows the setting", func(t *testing.T) {
		setArtifactHub(t, e, ns, "owners:\n- email: new@example.com\n")
		m, err := e.GetManifest(ctx, repo, artifacthub.Tag, true)
		if err != nil || m.Digest == served.Digest {
			t.Fatalf("after a change: %v, %v; want a new manifest", m, err)
		}
		if _, err := e.GetManifest(ctx, repo, served.Digest.String(), false); !errors.Is(err, registry.ErrManifestUnknown) {
			t.Fatalf("the old manifest by digest: %v", err)
		}
		if got, err := readBlob(t, e, repo, digest.FromString("owners:\n- email: new@example.com\n")); err != nil || string(got) != "owners:\n- email: new@example.com\n" {
			t.Fatalf("the new layer = %q, %v", got, err)
		}
		setArtifactHub(t, e, ns, "")
		m, err = e.GetManifest(ctx, repo, artifacthub.Tag, false)
		if err != nil || m.Digest == served.Digest {
			t.Fatalf("after removal: %v, %v; want the user's own tag again", m, err)
		}
		if _, _, err := e.ArtifactHubRepo(ctx, ns); !errors.Is(err, registry.ErrMetadataUnknown) {
			t.Fatalf("ArtifactHubRepo after removal = %v", err)
		}
	})
}
