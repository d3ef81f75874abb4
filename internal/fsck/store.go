package fsck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob"
	blobfs "github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
)

// checkStore walks the blob store and re-hashes every blob, quarantining the damaged ones
// when repairing.
func (c *checker) checkStore(ctx context.Context) error {
	c.stored = map[digest.Digest]*storedBlob{}
	if c.store == nil {
		c.summary(catBlobs, "no blob store at %s", c.opts.Blobs)
		return nil
	}
	var bytes int64
	var corrupt, stray int
	err := c.store.Walk(ctx, func(e blobfs.Entry) error {
		if e.Digest == "" || !e.Regular {
			stray++
			c.add(Finding{Category: catBlobs, Kind: "stray-file", Severity: Note, Subject: e.Path,
				Detail:  "a file or directory in the blob store whose place names no blob (blobs/<algorithm>/<first two hex>/<hex>, a regular file)",
				Meaning: "chartroom neither wrote nor serves it",
				Action:  "remove it once you know where it came from"})
			return nil
		}
		b := &storedBlob{size: e.Size}
		c.stored[e.Digest] = b
		bytes += e.Size
		n, err := blob.Verify(ctx, c.store, e.Digest)
		switch {
		case errors.Is(err, blob.ErrNotFound):
			delete(c.stored, e.Digest) // removed since the walk listed it
			bytes -= e.Size
			return nil
		case errors.Is(err, blob.ErrDigestMismatch):
			corrupt++
			b.corrupt = true
			c.reportCorrupt(ctx, e.Digest, b, err)
			return nil
		case err != nil:
			return err
		}
		b.size = n
		if size, ok := c.recorded[e.Digest]; ok && size != n && c.db != nil {
			c.add(Finding{Category: catBlobs, Kind: "blob-size-recorded", Severity: Problem, Subject: e.Digest.String(),
				Detail:  fmt.Sprintf("the blob is intact (%d bytes that hash to its digest) but the database records %d bytes", n, size),
				Meaning: "the database is wrong about this blob: requests for it announce the wrong length and fail",
				Action:  "restore chartroom.db from your latest backup (README, \"Backup and restore\")"})
		}
		return nil
	})
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("%s stored (%s), all re-hashed: %d intact, %d corrupt; %s",
		plural(len(c.stored), "blob", "blobs"), FormatBytes(bytes), len(c.stored)-corrupt, corrupt, plural(stray, "stray file", "stray files"))
	if c.db == nil {
		summary += "; not compared with a database (there is none to read)"
	}
	c.summary(catBlobs, "%s", summary)
	return nil
}

// reportCorrupt reports a blob whose bytes do not hash to its digest, and quarantines it
// when repairing.
func (c *checker) reportCorrupt(ctx context.Context, d digest.Digest, b *storedBlob, verr error) {
	detail := strings.TrimPrefix(verr.Error(), "verify "+d.String()+": ")
	if size, ok := c.recorded[d]; ok && size != b.size {
		detail += fmt.Sprintf(" (the database records %d bytes)", size)
	}
	f := &Finding{Category: catBlobs, Kind: "blob-corrupt", Severity: Problem, Subject: d.String(),
		Detail:  detail + "; file " + c.blobPath(d),
		Meaning: "the file was damaged or changed on disk: every pull of it fails verification",
		Action:  c.quarantineHint() + "; then copy the intact file from your latest backup to " + c.blobPath(d) + " (blobs never change, so any backup taken after it was pushed has it)"}
	defer func() { c.add(*f) }()
	if !c.opts.Repair {
		return
	}
	dest, err := c.store.Quarantine(ctx, d, c.opts.LostFound)
	switch {
	case errors.Is(err, blobfs.ErrIntact):
		b.corrupt = false
		f.Repaired = "nothing to do: the blob is intact now (it was written again meanwhile)"
	case err != nil:
		f.RepairFailed = err.Error()
	default:
		b.quarantined = dest
		f.Repaired = "moved to " + dest + "; the blob is now missing until you restore it"
	}
}

// checkRecordedBlobs reports the blobs the database records that the store lacks, and
// forgets those nothing depends on when repairing.
func (c *checker) checkRecordedBlobs(ctx context.Context) {
	missing := 0
	for _, d := range sortedDigests(c.recorded) {
		if _, ok := c.stored[d]; ok {
			continue // intact, or corrupt (and reported as such)
		}
		missing++
		subject := d.String()
		if blob.Validate(d) != nil {
			c.add(Finding{Category: catBlobs, Kind: "blob-record-invalid", Severity: Problem, Subject: fmt.Sprintf("%q", d),
				Detail:  "the database records a blob whose digest is not a sha256 or sha512 digest",
				Meaning: "the database is damaged",
				Action:  "restore chartroom.db from your latest backup (README, \"Backup and restore\")"})
			continue
		}
		deps := c.blobDependents(d)
		f := &Finding{Category: catBlobs, Kind: "blob-missing", Severity: Problem, Subject: subject,
			Detail: fmt.Sprintf("the database records it (%d bytes) but the blob store has no file %s", c.recorded[d], c.blobPath(d))}
		if len(deps) > 0 {
			f.Detail += "; needed by " + strings.Join(deps, ", ")
			f.Meaning = "pulls of what needs it fail; pushing the same content again does not help, because the registry believes it has it"
			f.Action = "copy the file from your latest backup to " + c.blobPath(d) + " (blobs never change, so any backup taken after it was pushed has it); a database restored without its blobs needs the blob backup taken with it"
			c.add(*f)
			continue
		}
		f.Meaning = "nothing needs it, but the registry answers that it has it and then fails to serve it"
		f.Action = "chartroom fsck --repair removes its database rows (nothing references it)"
		if c.opts.Repair {
			c.forget(ctx, d, f)
		}
		c.add(*f)
	}
	if s, ok := c.summaries[catBlobs]; ok {
		c.summaries[catBlobs] = fmt.Sprintf("%s; %d recorded in the database but missing", s, missing)
	}
}

// forget removes the rows of a missing blob nothing depends on.
func (c *checker) forget(ctx context.Context, d digest.Digest, f *Finding) {
	if c.store != nil {
		if _, err := c.store.Stat(ctx, d); err == nil {
			f.Repaired = "nothing to do: the blob is back (it was written again meanwhile)"
			return
		}
	}
	removed, err := c.db.ForgetBlob(ctx, d)
	switch {
	case err != nil:
		f.RepairFailed = err.Error()
	case removed:
		f.Repaired = "removed its database rows"
	default:
		f.RepairFailed = "kept its rows: a manifest that needs it was pushed meanwhile"
	}
}

// blobDependents lists what needs blob d: manifests that reference it and live chart versions
// whose archive or provenance it is.
func (c *checker) blobDependents(d digest.Digest) []string {
	deps := append([]string(nil), c.dependents[d]...)
	for _, cv := range c.charts {
		if !cv.Deleted && (cv.ChartDigest == d || cv.ProvDigest == d) {
			deps = append(deps, chartName(cv))
		}
	}
	sort.Strings(deps)
	return deps
}

func chartName(cv meta.ChartVersion) string {
	return fmt.Sprintf("chart %s %s (%s)", cv.Name, cv.Version, cv.Repository)
}

// checkCharts checks every live chart version: its manifest, its tag and its blobs.
func (c *checker) checkCharts() {
	checked, broken := 0, 0
	for _, cv := range c.charts {
		if cv.Deleted {
			continue
		}
		checked++
		var record, content []string
		m, ok := c.manifests[repoDigest{cv.Repository, cv.ManifestDigest}]
		switch {
		case !ok:
			record = append(record, "its manifest "+cv.ManifestDigest.String()+" is not in the database")
		case m.damaged:
			record = append(record, "its manifest "+cv.ManifestDigest.String()+" is damaged")
		case m.chart != cv.ChartDigest || m.prov != cv.ProvDigest:
			record = append(record, fmt.Sprintf("its manifest names archive %q and provenance %q, the version records %q and %q", m.chart, m.prov, cv.ChartDigest, cv.ProvDigest))
		}
		if tag := c.tags[repoTag{cv.Repository, chart.OCITag(cv.Version)}]; tag != cv.ManifestDigest {
			if tag == "" {
				record = append(record, "its tag "+chart.OCITag(cv.Version)+" is missing")
			} else {
				record = append(record, "its tag "+chart.OCITag(cv.Version)+" points at "+tag.String())
			}
		}
		parts := []struct {
			what string
			d    digest.Digest
		}{{"archive", cv.ChartDigest}, {"provenance file", cv.ProvDigest}}
		if ok && m.config != "" {
			parts = append(parts, struct {
				what string
				d    digest.Digest
			}{"config", m.config})
		}
		for _, p := range parts {
			if p.d == "" {
				continue
			}
			if problem := c.blobState(cv.Repository, p.d); problem != "" {
				content = append(content, fmt.Sprintf("its %s %s %s", p.what, p.d, problem))
			}
		}
		if b := c.stored[cv.ChartDigest]; b != nil && !b.corrupt && b.quarantined == "" && b.size != cv.ChartSize {
			content = append(content, fmt.Sprintf("its archive has %d bytes, the version records %d", b.size, cv.ChartSize))
		}
		if len(record) == 0 && len(content) == 0 {
			continue
		}
		broken++
		if len(record) > 0 {
			c.add(Finding{Category: catCharts, Kind: "chart-record", Severity: Problem, Subject: chartName(cv),
				Detail:  strings.Join(record, "; "),
				Meaning: "helm pull oci://… of this version fails or gets other content; the classic repository may still serve it",
				Action:  "restore chartroom.db from your latest backup (README, \"Backup and restore\")"})
		}
		if len(content) > 0 {
			c.add(Finding{Category: catCharts, Kind: "chart-content", Severity: Problem, Subject: chartName(cv),
				Detail:  strings.Join(content, "; "),
				Meaning: "downloads of this version fail, over OCI and from the classic repository",
				Action:  "copy the files named from your latest backup into the blob store (see the blob findings for their paths)"})
		}
	}
	c.summary(catCharts, "%s checked (manifest, tag, archive, provenance, config): %d broken",
		plural(checked, "live version", "live versions"), broken)
}

// blobState says what is wrong with blob d as repo needs it, or "".
func (c *checker) blobState(repo string, d digest.Digest) string {
	b := c.stored[d]
	switch {
	case !c.links[repoDigest{repo, d}]:
		return "is not linked to the repository"
	case b == nil:
		return "is missing from the blob store"
	case b.quarantined != "":
		return "was corrupt and is now in " + c.opts.LostFound
	case b.corrupt:
		return "is corrupt"
	}
	return ""
}

// checkOrphans reports stored blobs that no repository links.
func (c *checker) checkOrphans() {
	var n int
	var bytes int64
	for _, d := range sortedDigests(c.stored) {
		b := c.stored[d]
		if c.linkedAny[d] || b.quarantined != "" {
			continue
		}
		n++
		bytes += b.size
		why := "the database does not record it"
		if _, ok := c.recorded[d]; ok {
			why = "the database records it but no repository links it"
		}
		c.add(Finding{Category: catOrphans, Kind: "orphan-blob", Severity: Note, Subject: d.String(),
			Detail:  fmt.Sprintf("%s stored; %s", FormatBytes(b.size), why),
			Meaning: "it takes disk space and nothing serves it: left by an interrupted push, a push in progress, a blob deleted through the API, or a database restored from a backup older than the blobs",
			Action:  "nothing; chartroom keeps it (also with --repair), since a newer database backup may still need it"})
	}
	c.summary(catOrphans, "%s (%s) that no repository links: kept", plural(n, "blob", "blobs"), FormatBytes(bytes))
}

// checkLeftovers reports temporary files and upload sessions, removing the stale ones when
// repairing, and what earlier repairs quarantined.
func (c *checker) checkLeftovers() error {
	var temp, uploads, stale int
	if c.store != nil {
		leftovers, err := c.store.Leftovers()
		if err != nil {
			return err
		}
		cutoff := time.Now().Add(-c.opts.StaleAfter)
		for _, l := range leftovers {
			if l.Kind == blobfs.LeftoverTemp {
				temp++
			} else {
				uploads++
			}
			age := time.Since(l.Modified).Round(time.Second)
			f := Finding{Category: catLeftovers, Kind: string(l.Kind), Severity: Note, Subject: l.Path,
				Detail: fmt.Sprintf("%s, last changed %s ago", FormatBytes(l.Size), shortDuration(age))}
			if l.Broken {
				f.Detail += "; its state cannot be read, so it cannot be resumed"
			}
			if l.Modified.After(cutoff) && !l.Broken {
				f.Meaning = "a write in progress, or one that stopped less than " + shortDuration(c.opts.StaleAfter) + " ago"
				f.Action = "nothing: --repair leaves it alone"
				c.add(f)
				continue
			}
			stale++
			f.Meaning = "an interrupted write or an abandoned upload: it takes disk space and will never become a blob"
			f.Action = "chartroom fsck --repair removes it (a client still resuming it has to start its upload again)"
			if c.opts.Repair {
				if err := c.store.RemoveLeftover(l); err != nil {
					f.RepairFailed = err.Error()
				} else {
					f.Repaired = "removed"
				}
			}
			c.add(f)
		}
	}
	quarantined := 0
	if es, err := os.ReadDir(c.opts.LostFound); err == nil {
		quarantined = len(es)
	}
	if quarantined > 0 {
		c.add(Finding{Category: catLeftovers, Kind: "quarantined", Severity: Note, Subject: c.opts.LostFound,
			Detail:  plural(quarantined, "damaged blob", "damaged blobs") + " that chartroom fsck --repair moved out of the blob store",
			Meaning: "kept for analysis; chartroom no longer uses them",
			Action:  "delete them once you no longer need them"})
	}
	c.summary(catLeftovers, "%s, %s (%d stale: untouched for %s); %s in lost+found",
		plural(temp, "temporary file", "temporary files"), plural(uploads, "upload session", "upload sessions"), stale,
		shortDuration(c.opts.StaleAfter), plural(quarantined, "file", "files"))
	return nil
}

func sortedDigests[V any](m map[digest.Digest]V) []digest.Digest {
	out := make([]digest.Digest, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// FormatBytes writes n in the largest binary unit below it, e.g. 1.5 MiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// plural writes n with the singular or plural noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// shortDuration writes d without zero minutes and seconds: 24h, 1h30m, 45s.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
