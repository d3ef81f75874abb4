package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/render"
	"github.com/chartroom/chartroom/internal/safeyaml"
)

// The container images a chart version deploys: extracted once, when it is published (both
// protocols: ociChart and PublishChart, after the namespace's policies), and stored with it
// (migration 0010). A version published before that is extracted on its first read
// (ChartVersion, LatestChartVersion) and stored then, so the work follows what is looked
// at, not how many versions a database holds, and a server starts as fast as before.

// Image is one container image a chart version deploys.
type Image struct {
	// Image is the reference as the chart writes it ("nginx:1.27", "ghcr.io/o/app@sha256:…").
	Image string `json:"image"`
	// Name is the name the artifacthub.io/images annotation gives it, else the name of the
	// first container found running it.
	Name string `json:"name,omitempty"`
	// Source is ImageDeclared, ImageRendered or ImageDeclaredRendered.
	Source string `json:"source"`
	// Whitelisted and Platforms are the annotation's (Artifact Hub: exempt from its security
	// scan; the platforms the image is built for).
	Whitelisted bool     `json:"whitelisted,omitempty"`
	Platforms   []string `json:"platforms,omitempty"`
}

// Image sources (Image.Source).
const (
	// ImageDeclared: listed in Chart.yaml's artifacthub.io/images annotation only.
	ImageDeclared = "declared"
	// ImageRendered: in the containers of the objects the chart renders with its default
	// values only.
	ImageRendered = "rendered"
	// ImageDeclaredRendered: both.
	ImageDeclaredRendered = "declared,rendered"
)

// ImagesAnnotation is the Chart.yaml annotation in which a chart declares its images, as
// Artifact Hub reads it: a YAML list of {name, image, whitelisted, platforms}.
const ImagesAnnotation = "artifacthub.io/images"

// imagesVersion is the version of the extraction: raise it when images would be extracted
// differently, and versions stored with an older one are extracted again on their next read.
const imagesVersion = 1

// Bounds on what is stored of one chart version's images.
const (
	maxImages        = 1000
	maxImageRef      = 512
	maxImageName     = 253
	maxImagePlatform = 32
	maxImagesError   = 1024
)

// maxImagesRenderSize bounds the decompressed size of a chart rendered for its images: it is
// held in memory while it renders, in each of the registry's validation slots.
const maxImagesRenderSize = 16 << 20

// imagesRenderTimeout bounds rendering one chart for its images. Helm's engine cannot be
// stopped: a render that takes longer keeps its validation slot until it ends, but the
// publish (or read) goes on without rendered images.
const imagesRenderTimeout = 20 * time.Second

var errImagesTimeout = errors.New("rendering the chart for its images took too long")

// chartImages extracts the images of a chart version on its way in (or stored before
// migration 0010): those md's annotation declares and those the archive (opened by open)
// renders with default values. A chart that does not render is not refused: its rendered
// images are missing and the returned Error says why. Only ctx's end is an error.
func (r *Registry) chartImages(ctx context.Context, md *chart.Metadata, open func() (io.ReadCloser, error)) (meta.ChartImages, error) {
	declared, derr := declaredImages(md.Annotations[ImagesAnnotation])
	var problems []string
	if derr != nil {
		problems = append(problems, derr.Error())
	}
	var rendered []render.ContainerImage
	if !render.Available {
		problems = append(problems, "rendered images not extracted: "+render.ErrUnavailable.Error())
	} else {
		var rerr error
		rendered, rerr = r.renderImages(ctx, open)
		if ctx.Err() != nil {
			return meta.ChartImages{}, fmt.Errorf("extract the images of %s %s: %w", md.Name, md.Version, context.Cause(ctx))
		}
		if rerr != nil {
			problems = append(problems, oneLine(rerr.Error()))
		}
	}
	imgs, more := mergeImages(declared, rendered)
	if more > 0 {
		problems = append(problems, fmt.Sprintf("%d more images not recorded (at most %d are)", more, maxImages))
	}
	js, err := json.Marshal(imgs)
	if err != nil {
		return meta.ChartImages{}, err
	}
	msg := strings.Join(problems, "; ")
	if len(msg) > maxImagesError {
		msg = truncate(msg, maxImagesError) + "…"
	}
	return meta.ChartImages{JSON: js, Error: msg, Version: imagesVersion}, nil
}

// renderImages renders the archive open opens with default values, as helm template does,
// through Options.Render, in one of the registry's validation slots, for at most
// imagesRenderTimeout. A render in this process cannot be stopped: past the timeout the
// publish (or read) goes on without rendered images, and the render keeps its slot until it
// ends; a render in a child process (internal/sandbox) ends at the timeout.
func (r *Registry) renderImages(ctx context.Context, open func() (io.ReadCloser, error)) ([]render.ContainerImage, error) {
	select {
	case r.validations <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	rctx, cancel := context.WithTimeoutCause(ctx, imagesRenderTimeout, errImagesTimeout)
	defer cancel()
	type result struct {
		imgs []render.ContainerImage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-r.validations }()
		var res result
		defer func() {
			if p := recover(); p != nil {
				res = result{err: fmt.Errorf("render: %v", p)}
			}
			done <- res
		}()
		// Measured first, streaming (nothing held), so that a chart too large to render
		// for its images costs no memory.
		lim := chart.Limits{MaxTotalSize: maxImagesRenderSize}
		rc, err := open()
		if err == nil {
			_, err = chart.ValidateArchive(rc, lim)
			rc.Close()
		}
		if err != nil {
			res.err = fmt.Errorf("the chart is not rendered for its images: %w", err)
			return
		}
		archive, err := readArchive(open)
		if err != nil {
			res.err = fmt.Errorf("the chart is not rendered for its images: %w", err)
			return
		}
		if res.imgs, res.err = r.opts.Render.Images(rctx, archive, lim); res.err != nil {
			res.err = fmt.Errorf("the chart does not render with its default values: %w", res.err)
		}
	}()
	timedOut := func() bool { return errors.Is(context.Cause(rctx), errImagesTimeout) }
	select {
	case res := <-done:
		if res.err != nil && timedOut() {
			break // the renderer was stopped at the timeout
		}
		return res.imgs, res.err
	case <-rctx.Done():
	}
	if timedOut() {
		return nil, fmt.Errorf("the chart is not rendered for its images: rendering takes more than %s", imagesRenderTimeout)
	}
	return nil, context.Cause(rctx)
}

// readArchive reads the whole archive open opens: a chart archive the registry accepted,
// bounded by the chart rules (--max-chart-size), for a renderer.
func readArchive(open func() (io.ReadCloser, error)) ([]byte, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// declaredImages parses the artifacthub.io/images annotation ("" when absent).
func declaredImages(annotation string) ([]Image, error) {
	if strings.TrimSpace(annotation) == "" {
		return nil, nil
	}
	var list []struct {
		Name        string   `json:"name"`
		Image       string   `json:"image"`
		Whitelisted bool     `json:"whitelisted"`
		Platforms   []string `json:"platforms"`
	}
	if err := safeyaml.Unmarshal([]byte(annotation), &list); err != nil {
		return nil, fmt.Errorf("the %s annotation of Chart.yaml is not a list of {name, image, whitelisted, platforms}: %s", ImagesAnnotation, oneLine(err.Error()))
	}
	out := make([]Image, 0, len(list))
	for _, d := range list {
		img := strings.TrimSpace(d.Image)
		if img == "" {
			continue
		}
		out = append(out, Image{Image: img, Name: d.Name, Source: ImageDeclared, Whitelisted: d.Whitelisted, Platforms: d.Platforms})
	}
	return out, nil
}

// mergeImages lists the declared images (in the annotation's order), then the rendered ones
// not declared (in the order rendered), each image once and within the bounds; more is how
// many were left out for maxImages.
func mergeImages(declared []Image, rendered []render.ContainerImage) (imgs []Image, more int) {
	imgs = []Image{}
	at := map[string]int{}
	add := func(im Image) {
		if len(im.Image) > maxImageRef {
			return
		}
		if i, ok := at[im.Image]; ok {
			if imgs[i].Source != im.Source {
				imgs[i].Source = ImageDeclaredRendered
			}
			return
		}
		if len(imgs) == maxImages {
			more++
			return
		}
		im.Name = truncate(im.Name, maxImageName)
		if len(im.Platforms) > maxImagePlatform {
			im.Platforms = im.Platforms[:maxImagePlatform]
		}
		for j, p := range im.Platforms {
			im.Platforms[j] = truncate(p, maxImageName)
		}
		at[im.Image] = len(imgs)
		imgs = append(imgs, im)
	}
	for _, d := range declared {
		add(d)
	}
	for _, c := range rendered {
		add(Image{Image: c.Image, Name: c.Name, Source: ImageRendered})
	}
	return imgs, more
}

// withImages sets c's Images and ImagesError from what is stored of them, extracting them
// first (and storing them) for a version published before migration 0010 or extracted by an
// older release.
func (r *Registry) withImages(ctx context.Context, c *ChartVersion) error {
	ci, err := r.db.GetChartImages(ctx, c.Repository, c.Version)
	if err != nil {
		return err
	}
	if ci.Version < imagesVersion {
		if ci, err = r.extractStoredImages(ctx, c); err != nil {
			return err
		}
	}
	c.Images, c.ImagesError = []Image{}, ci.Error
	if len(ci.JSON) > 0 {
		if err := json.Unmarshal(ci.JSON, &c.Images); err != nil {
			return fmt.Errorf("the stored images of %s %s: %w", c.Repository, c.Version, err)
		}
	}
	return nil
}

// extractStoredImages extracts the images of a stored chart version from its archive and
// stores them. When the archive cannot be read, nothing is stored (the next read tries
// again) and the images are missing with the reason.
func (r *Registry) extractStoredImages(ctx context.Context, c *ChartVersion) (meta.ChartImages, error) {
	open := func() (io.ReadCloser, error) { return r.blobs.Open(ctx, c.ChartDigest, 0) }
	var md *chart.Metadata
	rc, err := open()
	if err == nil {
		md, err = r.loadChart(ctx, rc, "")
		rc.Close()
	}
	if err != nil {
		if ctx.Err() != nil {
			return meta.ChartImages{}, context.Cause(ctx)
		}
		r.log.Warn("the archive of a chart version cannot be read; its images are not extracted (run chartroom fsck)",
			"repository", c.Repository, "version", c.Version, "chart_digest", c.ChartDigest.String(), "err", err)
		return meta.ChartImages{Error: "images not extracted: the chart archive cannot be read: " + oneLine(err.Error())}, nil
	}
	ci, err := r.chartImages(ctx, md, open)
	if err != nil {
		return ci, err
	}
	if _, err := r.db.SetChartImages(ctx, c.Repository, c.Version, ci); err != nil {
		// What was extracted is still the answer; the next read tries to store it again.
		r.log.Warn("the images of a chart version cannot be stored", "repository", c.Repository, "version", c.Version, "err", err)
		return ci, nil
	}
	r.log.Info("extracted the images of a chart version published before they were recorded",
		"repository", c.Repository, "version", c.Version, "images_error", ci.Error)
	return ci, nil
}

// oneLine makes an error message one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate cuts s to at most n bytes, at a character's start.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
