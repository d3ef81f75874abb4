package chart

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Helm's OCI format (Helm v3.22.0 pkg/registry, HIP-0006): the media types, the tag a
// version is pushed under, the manifest `helm push` makes and the archive's file name are
// defined here once, for the server, the client and the database alike.

// Media types of a Helm chart stored as an OCI artifact.
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

// OCITag is the OCI tag a chart version is pushed under: SemVer build metadata's '+' is
// not allowed in a tag (OCI distribution-spec v1.1), so Helm writes it as '_'.
func OCITag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// VersionOfOCITag is the chart version a tag names, the inverse of [OCITag]: a SemVer
// version has no '_', so a tag names at most one version.
func VersionOfOCITag(tag string) string { return strings.ReplaceAll(tag, "_", "+") }

// ArchiveName is the file name of a packaged chart, "<name>-<version>.tgz": what `helm
// package` writes, what a classic repository serves and what a .prov file names.
func ArchiveName(name, version string) string { return name + "-" + version + ".tgz" }

// ChartLayer describes an archive as the chart layer of a manifest.
func ChartLayer(d digest.Digest, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ChartLayerMediaType, Digest: d, Size: size}
}

// ProvLayer describes a .prov file as the provenance layer of a manifest.
func ProvLayer(prov []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ProvLayerMediaType, Digest: digest.FromBytes(prov), Size: int64(len(prov))}
}

// OCIArtifact is a chart version as `helm push` stores it: an image manifest and the
// config blob it names.
type OCIArtifact struct {
	// Manifest is the image manifest's bytes.
	Manifest []byte
	// Config is the config blob: [ConfigJSON] of the chart's metadata.
	Config []byte
	// ConfigDescriptor describes Config.
	ConfigDescriptor ocispec.Descriptor
}

// HelmArtifact builds the artifact `helm push` (Helm v3.22.0 pkg/registry Client.Push)
// makes of an archive with this metadata: an OCI image manifest with schemaVersion 2 and
// neither mediaType nor artifactType; config [ConfigJSON] as [ConfigMediaType]; layers the
// archive ([ChartLayer]) and, unless prov is the zero Descriptor, the .prov ([ProvLayer]),
// sorted by digest; annotations [OCIAnnotations] with created in created's time zone (helm
// push formats the archive file's modification time in local time).
func HelmArtifact(md *Metadata, archive, prov ocispec.Descriptor, created time.Time) (*OCIArtifact, error) {
	config, err := ConfigJSON(md)
	if err != nil {
		return nil, err
	}
	configDesc := ocispec.Descriptor{MediaType: ConfigMediaType, Digest: digest.FromBytes(config), Size: int64(len(config))}
	layers := []ocispec.Descriptor{archive}
	if prov.Digest != "" {
		layers = append(layers, prov)
	}
	sortLayers(layers)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		Config:      configDesc,
		Layers:      layers,
		Annotations: OCIAnnotations(md, created),
	})
	if err != nil {
		return nil, err
	}
	return &OCIArtifact{Manifest: manifest, Config: config, ConfigDescriptor: configDesc}, nil
}

// AddProvLayer adds a provenance layer to a chart's manifest where `helm push` would have
// put it had the .prov been pushed with the archive.
func AddProvLayer(m *ocispec.Manifest, prov ocispec.Descriptor) {
	m.Layers = append(m.Layers, prov)
	sortLayers(m.Layers)
}

// sortLayers orders layers by digest, as helm push does ("for determinism, similar to how
// ORAS v1 does it").
func sortLayers(layers []ocispec.Descriptor) {
	sort.Slice(layers, func(i, j int) bool { return layers[i].Digest < layers[j].Digest })
}

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
// ("Name (email), …"), created (RFC 3339 in created's time zone), then the
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
	put(annotationCreated, created.Format(time.RFC3339))
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
