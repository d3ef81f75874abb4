package chart

import (
	"encoding/json"
	"strings"
	"time"
)

// Media types of a Helm chart stored as an OCI artifact (Helm v3
// pkg/registry, HIP-0006).
const (
	// ConfigMediaType is the manifest config: JSON of Chart.yaml ([ConfigJSON]).
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	// ChartLayerMediaType is the layer holding the .tgz archive.
	ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	// ProvLayerMediaType is the optional layer holding the .prov file.
	ProvLayerMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
	// LegacyChartLayerMediaType is the layer type of charts pushed by Helm before 3.7.
	LegacyChartLayerMediaType = "application/tar+gzip"
)

// ConfigJSON returns the exact OCI config blob `helm push` uploads for a
// chart with this metadata: encoding/json of Helm's Metadata struct (same
// field order and omitempty), after the sanitizing and apiVersion
// defaulting Helm's loader applies. md itself is not modified.
//
// Pass the metadata of the loaded archive ([LoadArchive]): for apiVersion v1
// charts it includes the dependencies of requirements.yaml, as Helm's does.
func ConfigJSON(md *Metadata) ([]byte, error) {
	return json.Marshal(md.normalized())
}

// OCI manifest annotation keys (OCI image-spec v1.1 annotations.md).
const (
	annotationCreated     = "org.opencontainers.image.created"
	annotationAuthors     = "org.opencontainers.image.authors"
	annotationURL         = "org.opencontainers.image.url"
	annotationSource      = "org.opencontainers.image.source"
	annotationVersion     = "org.opencontainers.image.version"
	annotationTitle       = "org.opencontainers.image.title"
	annotationDescription = "org.opencontainers.image.description"
)

// OCIAnnotations returns the manifest annotations `helm push` sets for a
// chart: title, version, description, url, source (first source), authors
// ("Name (email), …"), created (RFC 3339, UTC, from the argument), then the
// chart's own annotations except those that would override title or version.
func OCIAnnotations(md *Metadata, created time.Time) map[string]string {
	md = md.normalized()
	out := map[string]string{}
	put := func(k, v string) {
		if strings.TrimSpace(v) != "" {
			out[k] = v
		}
	}
	put(annotationDescription, md.Description)
	put(annotationTitle, md.Name)
	put(annotationVersion, md.Version)
	put(annotationURL, md.Home)
	put(annotationCreated, created.UTC().Format(time.RFC3339))
	if len(md.Sources) > 0 {
		put(annotationSource, md.Sources[0])
	}
	if len(md.Maintainers) > 0 {
		var b strings.Builder
		for i, m := range md.Maintainers {
			if m != nil {
				b.WriteString(m.Name)
				if m.Email != "" {
					b.WriteString(" (" + m.Email + ")")
				}
			}
			if i < len(md.Maintainers)-1 {
				b.WriteString(", ")
			}
		}
		put(annotationAuthors, b.String())
	}
	for k, v := range md.Annotations {
		if k == annotationTitle || k == annotationVersion {
			continue
		}
		out[k] = v
	}
	return out
}
