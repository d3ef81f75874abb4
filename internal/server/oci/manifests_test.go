package oci

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/registry"
)

func TestManifestPushPull(t *testing.T) {
	e := newEnv(t, registry.Options{})
	m := e.pushImage("team/app", "layer", nil)
	d := digest.FromBytes(m)

	res := e.putManifest("team/app", "v1", m)
	res.expect(t, http.StatusCreated, "")
	if res.header.Get("Location") != "/v2/team/app/manifests/"+d.String() || res.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("push headers: %v", res.header)
	}
	if res.header.Get("OCI-Subject") != "" {
		t.Errorf("OCI-Subject on a manifest without subject: %q", res.header.Get("OCI-Subject"))
	}

	for _, ref := range []string{"v1", d.String()} {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+ref, func(t *testing.T) {
				res := e.do(method, "/v2/team/app/manifests/"+ref, nil, "Accept", ocispec.MediaTypeImageManifest)
				if res.status != http.StatusOK {
					t.Fatalf("status %d: %s", res.status, res.body)
				}
				want := map[string]string{
					"Content-Type":          ocispec.MediaTypeImageManifest,
					"Content-Length":        strconv.Itoa(len(m)),
					"Docker-Content-Digest": d.String(),
				}
				for k, v := range want {
					if got := res.header.Get(k); got != v {
						t.Errorf("%s = %q, want %q", k, got, v)
					}
				}
				if method == "GET" && !bytes.Equal(res.body, m) {
					t.Errorf("body differs from what was pushed")
				}
				if method == "HEAD" && len(res.body) != 0 {
					t.Errorf("HEAD has a body")
				}
			})
		}
	}

	t.Run("not modified", func(t *testing.T) {
		res := e.do("GET", "/v2/team/app/manifests/v1", nil, "If-None-Match", `"`+d.String()+`"`)
		if res.status != http.StatusNotModified {
			t.Fatalf("status %d", res.status)
		}
	})
	t.Run("delete tag", func(t *testing.T) {
		e.do("DELETE", "/v2/team/app/manifests/v1", nil).expect(t, http.StatusAccepted, "")
		e.do("GET", "/v2/team/app/manifests/v1", nil).expect(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
		e.do("GET", "/v2/team/app/manifests/"+d.String(), nil).expect(t, http.StatusOK, "")
	})
	t.Run("delete manifest", func(t *testing.T) {
		e.do("DELETE", "/v2/team/app/manifests/"+d.String(), nil).expect(t, http.StatusAccepted, "")
		e.do("HEAD", "/v2/team/app/manifests/"+d.String(), nil).expect(t, http.StatusNotFound, "")
		e.do("DELETE", "/v2/team/app/manifests/"+d.String(), nil).expect(t, http.StatusNotFound, "MANIFEST_UNKNOWN")
	})
}

func TestManifestPushErrors(t *testing.T) {
	e := newEnv(t, registry.Options{MaxManifestSize: 64 << 10})
	good := e.pushImage("app", "layer", nil)
	cfg := descriptor(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	unpushed := descriptor(ocispec.MediaTypeImageLayer, []byte("never pushed"))
	tooLarge := imageManifest(cfg, nil, nil, map[string]string{"big": strings.Repeat("x", 64<<10)})
	tests := []struct {
		name, ref, contentType string
		body                   []byte
		streamed               bool
		status                 int
		code                   string
	}{
		{"malformed JSON", "v1", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,`), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"not a manifest", "v1", ocispec.MediaTypeImageManifest, []byte(`[1,2,3]`), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"trailing data", "v1", ocispec.MediaTypeImageManifest, append(bytes.Clone(good), `{}`...), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"schema version 1", "v1", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":1,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"media type differs from Content-Type", "v1", ocispec.MediaTypeImageIndex, good, false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"unsupported media type", "v1", "application/vnd.example+json", []byte(`{"schemaVersion":2}`), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"missing config", "v1", ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"layer with a malformed digest", "v1", ocispec.MediaTypeImageManifest, imageManifest(cfg, []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: "sha256:abc", Size: 1}}, nil, nil), false, http.StatusBadRequest, "MANIFEST_INVALID"},
		{"layer not pushed", "v1", ocispec.MediaTypeImageManifest, imageManifest(cfg, []ocispec.Descriptor{unpushed}, nil, nil), false, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
		{"index child not pushed", "v1", ocispec.MediaTypeImageIndex, index(descriptor(ocispec.MediaTypeImageManifest, []byte("{}"))), false, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
		{"digest does not match the body", digest.FromString("other").String(), ocispec.MediaTypeImageManifest, good, false, http.StatusBadRequest, "DIGEST_INVALID"},
		{"malformed digest", "sha256:baddigeststring", ocispec.MediaTypeImageManifest, good, false, http.StatusBadRequest, "DIGEST_INVALID"},
		{"unknown digest algorithm", "md5:" + strings.Repeat("0", 32), ocispec.MediaTypeImageManifest, good, false, http.StatusBadRequest, "DIGEST_INVALID"},
		{"invalid tag", "-v1", ocispec.MediaTypeImageManifest, good, false, http.StatusBadRequest, "TAG_INVALID"},
		{"over the size limit", "v1", ocispec.MediaTypeImageManifest, tooLarge, false, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID"},
		{"over the size limit, streamed", "v1", ocispec.MediaTypeImageManifest, tooLarge, true, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.send(request{method: "PUT", path: "/v2/app/manifests/" + tt.ref, body: tt.body, streamed: tt.streamed,
				header: map[string]string{"Content-Type": tt.contentType}})
			res.expect(t, tt.status, tt.code)
			if res.message() == "" {
				t.Error("error without message")
			}
		})
	}
	e.do("GET", "/v2/app/tags/list", nil).expect(t, http.StatusOK, "")
	if res := e.do("GET", "/v2/app/manifests/v1", nil); res.status != http.StatusNotFound {
		t.Errorf("a refused manifest was stored: %d", res.status)
	}
}

func index(children ...ocispec.Descriptor) []byte {
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: children}
	ix.SchemaVersion = 2
	b, err := json.Marshal(ix)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSparseManifests(t *testing.T) {
	cfgData := []byte(`{"architecture":"amd64","os":"linux"}`)
	cfg := descriptor(ocispec.MediaTypeImageConfig, cfgData)
	unpushed := descriptor(ocispec.MediaTypeImageLayer, []byte("never pushed"))
	nondistributable := descriptor("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", []byte("elsewhere"))
	tests := []struct {
		name   string
		sparse bool
		body   func(e *env) ([]byte, string)
		status int
		code   string
	}{
		{"image missing a layer, strict", false, func(e *env) ([]byte, string) {
			return imageManifest(cfg, []ocispec.Descriptor{unpushed}, nil, nil), ocispec.MediaTypeImageManifest
		}, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
		{"image missing a layer, sparse allowed", true, func(e *env) ([]byte, string) {
			return imageManifest(cfg, []ocispec.Descriptor{unpushed}, nil, nil), ocispec.MediaTypeImageManifest
		}, http.StatusCreated, ""},
		{"index missing a child, sparse allowed", true, func(e *env) ([]byte, string) {
			return index(descriptor(ocispec.MediaTypeImageManifest, []byte("{}"))), ocispec.MediaTypeImageIndex
		}, http.StatusCreated, ""},
		{"non-distributable layer is never required", false, func(e *env) ([]byte, string) {
			return imageManifest(cfg, []ocispec.Descriptor{nondistributable}, nil, nil), ocispec.MediaTypeImageManifest
		}, http.StatusCreated, ""},
		{"chart missing its layer is never sparse", true, func(e *env) ([]byte, string) {
			return chartManifest(e.pushChartConfig("charts/myapp", chartConfig("myapp", "1.0.0")), descriptor(chart.ChartLayerMediaType, []byte("not pushed")), nil), ocispec.MediaTypeImageManifest
		}, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, registry.Options{AllowSparseManifests: tt.sparse})
			e.pushBlob("charts/myapp", cfgData)
			body, mt := tt.body(e)
			repo := "charts/myapp"
			e.do("PUT", "/v2/"+repo+"/manifests/1.0.0", body, "Content-Type", mt).expect(t, tt.status, tt.code)
		})
	}
}

func TestManifestSubjectAndTagParams(t *testing.T) {
	e := newEnv(t, registry.Options{})
	subjectBody := e.pushImage("app", "subject layer", nil)
	e.putManifest("app", "base", subjectBody).expect(t, http.StatusCreated, "")
	subject := descriptor(ocispec.MediaTypeImageManifest, subjectBody)

	sig := e.pushImage("app", "signature layer", &subject)
	d := digest.FromBytes(sig)
	res := e.putManifest("app", d.String()+"?tag=sig&tag=sig-v2", sig)
	res.expect(t, http.StatusCreated, "")
	if got := res.header.Get("OCI-Subject"); got != subject.Digest.String() {
		t.Errorf("OCI-Subject = %q, want %s", got, subject.Digest)
	}
	if got := strings.Join(res.header.Values("OCI-Tag"), ","); got != "sig,sig-v2" {
		t.Errorf("OCI-Tag = %q", got)
	}
	for _, tag := range []string{"sig", "sig-v2"} {
		res := e.do("HEAD", "/v2/app/manifests/"+tag, nil)
		if res.status != http.StatusOK || res.header.Get("Docker-Content-Digest") != d.String() {
			t.Errorf("tag %s: %d %v", tag, res.status, res.header)
		}
	}
	t.Run("invalid tag parameter", func(t *testing.T) {
		m := e.pushImage("app", "other layer", nil)
		e.putManifest("app", digest.FromBytes(m).String()+"?tag=.bad", m).expect(t, http.StatusBadRequest, "TAG_INVALID")
	})
	t.Run("sha512 digest", func(t *testing.T) {
		m := e.pushImage("app", "sha512 layer", nil)
		d512 := digest.SHA512.FromBytes(m)
		res := e.putManifest("app", d512.String()+"?tag=five-twelve", m)
		res.expect(t, http.StatusCreated, "")
		if res.header.Get("Docker-Content-Digest") != d512.String() {
			t.Fatalf("Docker-Content-Digest = %q", res.header.Get("Docker-Content-Digest"))
		}
		got := e.do("GET", "/v2/app/manifests/five-twelve", nil)
		got.expect(t, http.StatusOK, "")
		if got.header.Get("Docker-Content-Digest") != d512.String() || !bytes.Equal(got.body, m) {
			t.Errorf("by tag: %v", got.header)
		}
	})
}
