package oci

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/registry"
)

func TestReferrers(t *testing.T) {
	e := newEnv(t, registry.Options{})
	subjectBody := e.pushImage("app", "subject", nil)
	e.putManifest("app", "v1", subjectBody).expect(t, http.StatusCreated, "")
	subject := descriptor(ocispec.MediaTypeImageManifest, subjectBody)

	// Two artifacts of different types refer to the subject.
	emptyCfg := []byte("{}")
	e.pushBlob("app", emptyCfg)
	var refs []digest.Digest
	for i, at := range []string{"application/vnd.example.sbom", "application/vnd.example.signature"} {
		layer := []byte{byte(i)}
		e.pushBlob("app", layer)
		m := ocispec.Manifest{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: at,
			Config:       descriptor(ocispec.MediaTypeEmptyJSON, emptyCfg),
			Layers:       []ocispec.Descriptor{descriptor(at, layer)},
			Subject:      &subject,
			Annotations:  map[string]string{"n": string(rune('a' + i))},
		}
		m.SchemaVersion = 2
		body, _ := json.Marshal(m)
		d := digest.FromBytes(body)
		e.putManifest("app", d.String(), body).expect(t, http.StatusCreated, "")
		refs = append(refs, d)
	}

	tests := []struct {
		name, path string
		status     int
		code       string
		want       []digest.Digest
		filtered   bool
	}{
		{"all", "/v2/app/referrers/" + subject.Digest.String(), http.StatusOK, "", refs, false},
		{"by artifact type", "/v2/app/referrers/" + subject.Digest.String() + "?artifactType=application/vnd.example.signature", http.StatusOK, "", refs[1:], true},
		{"artifact type nobody has", "/v2/app/referrers/" + subject.Digest.String() + "?artifactType=x/y", http.StatusOK, "", nil, true},
		{"no referrers: an empty index", "/v2/app/referrers/" + digest.FromString("lonely").String(), http.StatusOK, "", nil, false},
		{"unknown repository: an empty index", "/v2/nowhere/referrers/" + subject.Digest.String(), http.StatusOK, "", nil, false},
		{"malformed digest", "/v2/app/referrers/sha256:xyz", http.StatusBadRequest, "DIGEST_INVALID", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, nil)
			res.expect(t, tt.status, tt.code)
			if tt.status != http.StatusOK {
				return
			}
			if ct := res.header.Get("Content-Type"); ct != ocispec.MediaTypeImageIndex {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := res.header.Get("OCI-Filters-Applied") == "artifactType"; got != tt.filtered {
				t.Errorf("OCI-Filters-Applied = %q", res.header.Get("OCI-Filters-Applied"))
			}
			var ix struct {
				SchemaVersion int                   `json:"schemaVersion"`
				MediaType     string                `json:"mediaType"`
				Manifests     *[]ocispec.Descriptor `json:"manifests"`
			}
			if err := json.Unmarshal(res.body, &ix); err != nil {
				t.Fatal(err)
			}
			if ix.SchemaVersion != 2 || ix.MediaType != ocispec.MediaTypeImageIndex || ix.Manifests == nil {
				t.Fatalf("not an OCI index: %s", res.body)
			}
			if len(*ix.Manifests) != len(tt.want) {
				t.Fatalf("%d referrers, want %d: %s", len(*ix.Manifests), len(tt.want), res.body)
			}
			for i, d := range *ix.Manifests {
				if d.Digest != tt.want[i] || d.ArtifactType == "" || d.Size == 0 || d.MediaType != ocispec.MediaTypeImageManifest || d.Annotations["n"] == "" {
					t.Errorf("referrer %d: %+v", i, d)
				}
			}
		})
	}
}
