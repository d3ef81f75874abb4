package fsck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/blob"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
)

// Media types fsck recognises beyond Helm's (internal/chart).
const (
	dockerForeignLayer     = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	nonDistributablePrefix = "application/vnd.oci.image.layer.nondistributable."
)

// manifestInfo is what the chart checks need of a stored manifest.
type manifestInfo struct {
	chart, prov, config digest.Digest   // of a chart manifest; "" otherwise
	blobs               []digest.Digest // config and layers the repository must hold
	children            []digest.Digest // manifests of an index
	damaged             bool
}

// load reads the database snapshot, checks the database's integrity and every manifest.
func (c *checker) load(ctx context.Context) error {
	s := c.snap
	counts := map[string]int{}
	for _, t := range []string{"repositories", "manifests", "tags", "users"} {
		n, err := s.Count(ctx, t)
		if err != nil {
			return err
		}
		counts[t] = n
	}
	issues, err := c.db.IntegrityCheck(ctx)
	if err != nil {
		return err
	}
	integrity := "SQLite integrity check passed"
	if len(issues) > 0 {
		integrity = "SQLite integrity check found " + plural(len(issues), "issue", "issues")
		c.add(Finding{Category: catDatabase, Kind: "database-damaged", Severity: Problem, Subject: c.opts.Database,
			Detail:  strings.Join(issues, "; "),
			Meaning: "parts of the database are damaged: some reads may fail or return wrong rows",
			Action:  "stop chartroom serve and restore chartroom.db from your latest backup (README, \"Backup and restore\"); keep the damaged file aside"})
	}

	c.recorded = map[digest.Digest]int64{}
	if err := s.Blobs(ctx, func(b meta.BlobRecord) error { c.recorded[b.Digest] = b.Size; return nil }); err != nil {
		return err
	}
	c.links = map[repoDigest]bool{}
	c.linkedAny = map[digest.Digest]bool{}
	if err := s.Links(ctx, func(repo string, d digest.Digest) error {
		c.links[repoDigest{repo, d}] = true
		c.linkedAny[d] = true
		return nil
	}); err != nil {
		return err
	}
	c.references = map[repoDigest][]digest.Digest{}
	c.dependents = map[digest.Digest][]string{}
	if err := s.References(ctx, func(repo string, m, child digest.Digest) error {
		k := repoDigest{repo, m}
		c.references[k] = append(c.references[k], child)
		c.dependents[child] = append(c.dependents[child], repo+"@"+m.String())
		return nil
	}); err != nil {
		return err
	}
	c.tags = map[repoTag]digest.Digest{}
	if err := s.Tags(ctx, func(repo, tag string, d digest.Digest) error { c.tags[repoTag{repo, tag}] = d; return nil }); err != nil {
		return err
	}
	live := map[repoDigest]bool{}
	deleted := 0
	if err := s.ChartVersions(ctx, func(cv meta.ChartVersion) error {
		c.charts = append(c.charts, cv)
		if cv.Deleted {
			deleted++
		} else {
			live[repoDigest{cv.Repository, cv.ManifestDigest}] = true
		}
		return nil
	}); err != nil {
		return err
	}
	c.summary(catDatabase, "%s, %s, %s, %s (%d deleted), %s recorded, %s; %s",
		plural(counts["repositories"], "repository", "repositories"), plural(counts["manifests"], "manifest", "manifests"),
		plural(counts["tags"], "tag", "tags"), plural(len(c.charts), "chart version", "chart versions"), deleted,
		plural(len(c.recorded), "blob", "blobs"), plural(counts["users"], "user", "users"), integrity)

	c.manifests = map[repoDigest]*manifestInfo{}
	damaged := 0
	err = s.Manifests(ctx, func(m meta.Manifest) error {
		info, problem := c.checkManifest(m)
		c.manifests[repoDigest{m.Repository, m.Digest}] = info
		if problem != "" {
			damaged++
			info.damaged = true
			c.add(Finding{Category: catManifests, Kind: "manifest-damaged", Severity: Problem, Subject: m.Repository + "@" + m.Digest.String(),
				Detail:  problem,
				Meaning: "the database's copy of this manifest is damaged: pulls of it fail or get wrong content, and what it needs may be misjudged",
				Action:  "restore chartroom.db from your latest backup (README, \"Backup and restore\"), or push the image or chart again"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What manifests reference that their repository lacks, now that every manifest is known.
	keys := make([]repoDigest, 0, len(c.manifests))
	for k := range c.manifests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].repo != keys[j].repo {
			return keys[i].repo < keys[j].repo
		}
		return keys[i].d < keys[j].d
	})
	incomplete := 0
	for _, k := range keys {
		info := c.manifests[k]
		if info.damaged || live[k] { // the chart checks report live chart versions
			continue
		}
		var missing []string
		for _, d := range info.blobs {
			if !c.links[repoDigest{k.repo, d}] {
				missing = append(missing, "blob "+d.String())
			}
		}
		for _, d := range info.children {
			if _, ok := c.manifests[repoDigest{k.repo, d}]; !ok {
				missing = append(missing, "manifest "+d.String())
			}
		}
		if len(missing) == 0 {
			continue
		}
		incomplete++
		c.add(Finding{Category: catManifests, Kind: "manifest-incomplete", Severity: Note, Subject: k.repo + "@" + k.d.String(),
			Detail:  "references content the repository does not hold: " + strings.Join(missing, ", "),
			Meaning: "pulls of this manifest fail for that part; expected for a mirror served with --allow-sparse-manifests and after a blob was deleted through the API",
			Action:  "nothing, if that is why; otherwise push the missing content again"})
	}
	c.summary(catManifests, "%s checked (content digest, format, recorded references): %d damaged, %d incomplete",
		plural(len(c.manifests), "manifest", "manifests"), damaged, incomplete)
	return nil
}

// manifestDoc is the part of a manifest or index fsck reads.
type manifestDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
}

// checkManifest checks one stored manifest: its content hashes to its digest, parses as the
// media type recorded, and references exactly what the database recorded. It returns what
// the later checks need and a description of any damage.
func (c *checker) checkManifest(m meta.Manifest) (*manifestInfo, string) {
	info := &manifestInfo{}
	if err := blob.Validate(m.Digest); err != nil {
		return info, fmt.Sprintf("its recorded digest %q is not a sha256 or sha512 digest", m.Digest)
	}
	if actual := m.Digest.Algorithm().FromBytes(m.Content); actual != m.Digest {
		return info, fmt.Sprintf("its %d bytes of content hash to %s", len(m.Content), actual)
	}
	if m.Size != int64(len(m.Content)) {
		return info, fmt.Sprintf("its recorded size is %d but its content has %d bytes", m.Size, len(m.Content))
	}
	var doc manifestDoc
	dec := json.NewDecoder(bytes.NewReader(m.Content))
	if err := dec.Decode(&doc); err != nil {
		return info, fmt.Sprintf("its content is not valid JSON: %v", err)
	}
	if doc.SchemaVersion != 2 || (doc.MediaType != "" && doc.MediaType != m.MediaType) {
		return info, fmt.Sprintf("its content (schemaVersion %d, mediaType %q) does not match its recorded media type %q", doc.SchemaVersion, doc.MediaType, m.MediaType)
	}
	var blobs, children []ocispec.Descriptor
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, registry.MediaTypeDockerManifest:
		if doc.Config == nil {
			return info, "it is an image manifest without a config"
		}
		blobs = append([]ocispec.Descriptor{*doc.Config}, doc.Layers...)
	case ocispec.MediaTypeImageIndex, registry.MediaTypeDockerManifestList:
		children = doc.Manifests
	default:
		return info, fmt.Sprintf("its media type %q is not one chartroom stores", m.MediaType)
	}
	want := map[digest.Digest]bool{}
	for _, d := range append(append([]ocispec.Descriptor{}, blobs...), children...) {
		if blob.Validate(d.Digest) != nil {
			return info, fmt.Sprintf("it references %q, which is not a sha256 or sha512 digest", d.Digest)
		}
		want[d.Digest] = true
	}
	got := map[digest.Digest]bool{}
	for _, d := range c.references[repoDigest{m.Repository, m.Digest}] {
		got[d] = true
	}
	if diff := describeDiff(want, got); diff != "" {
		return info, "the database's record of what it references differs from its content: " + diff
	}
	if doc.Config != nil && doc.Config.MediaType == chart.ConfigMediaType {
		info.config = doc.Config.Digest
		for _, l := range doc.Layers {
			switch l.MediaType {
			case chart.ChartLayerMediaType, chart.LegacyChartLayerMediaType:
				info.chart = l.Digest
			case chart.ProvLayerMediaType:
				info.prov = l.Digest
			}
		}
	}
	for _, d := range blobs {
		if d.MediaType != dockerForeignLayer && !strings.HasPrefix(d.MediaType, nonDistributablePrefix) {
			info.blobs = append(info.blobs, d.Digest)
		}
	}
	for _, d := range children {
		info.children = append(info.children, d.Digest)
	}
	return info, ""
}

// describeDiff lists what want has that got lacks, and the reverse.
func describeDiff(want, got map[digest.Digest]bool) string {
	var missing, extra []string
	for d := range want {
		if !got[d] {
			missing = append(missing, d.String())
		}
	}
	for d := range got {
		if !want[d] {
			extra = append(extra, d.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "not recorded: "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		parts = append(parts, "recorded but not in the content: "+strings.Join(extra, ", "))
	}
	return strings.Join(parts, "; ")
}
