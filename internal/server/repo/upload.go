package repo

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/httpx"
)

// Uploads, as ChartMuseum's API takes them (and `helm cm-push` sends them):
//
//	POST /api/<ns>/charts  body: the .tgz                      → 201 {"saved":true}
//	POST /api/<ns>/charts  multipart: chart=<.tgz> [prov=<.prov>] → 201 {"saved":true}
//	POST /api/<ns>/prov    body: the .prov of a published version → 201 {"saved":true}
//
// A version that exists answers 409, also with ?force: versions are immutable. Bad input
// answers 400 saying what is wrong, and nothing is stored.

// Multipart field names (ChartMuseum's defaults, used by helm cm-push).
const (
	fieldChart = "chart"
	fieldProv  = "prov"
)

// multipartOverhead is what a multipart body may carry beyond its files.
const multipartOverhead = 1 << 20

var savedBody = map[string]bool{"saved": true}

// publishInput is one upload: the archive (received by the registry), the file name a URL
// gave it, its provenance.
type publishInput struct {
	archive  *registry.ChartUpload
	fileName string
	prov     []byte
}

// postChart serves POST /api/<ns>/charts.
func (h *handler) postChart(w http.ResponseWriter, r *http.Request, t target) error {
	body := h.limitBody(w, r)
	var in publishInput
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		in, err = h.readMultipart(r)
	} else {
		in.archive, err = h.reg.ReceiveChart(r.Context(), body)
	}
	if in.archive != nil {
		defer in.archive.Close()
	}
	if err != nil {
		return err
	}
	return h.publish(w, r, t.ns, in)
}

// publish hands a received upload to the registry and answers 201.
func (h *handler) publish(w http.ResponseWriter, r *http.Request, ns string, in publishInput) error {
	c, err := h.reg.PublishChart(r.Context(), registry.PublishChartRequest{
		Namespace:      ns,
		Archive:        in.archive,
		FileName:       in.fileName,
		Prov:           in.prov,
		Actor:          httpx.Principal(r).Name,
		RefuseExisting: true,
	})
	if err != nil {
		if r.URL.Query().Has("force") && (errors.Is(err, registry.ErrImmutable) || errors.Is(err, registry.ErrVersionExists)) {
			return fmt.Errorf("?force cannot overwrite a published version: %w", err)
		}
		return err
	}
	httpx.SetAudit(r, httpx.AuditFacts{Repository: c.Repository, Version: c.Version, Digest: c.ChartDigest.String()})
	httpx.WriteJSON(w, http.StatusCreated, httpx.ContentTypeJSON, savedBody)
	return nil
}

// limitBody bounds the request body (r.Body, which it replaces and returns): the largest
// archive, its provenance and multipart framing.
func (h *handler) limitBody(w http.ResponseWriter, r *http.Request) io.Reader {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.reg.Options().MaxChartSize+registry.MaxProvSize+multipartOverhead)
	return r.Body
}

// readMultipart reads the chart and prov fields of a multipart upload, streaming: the chart is
// received by the registry (spooled to disk once; the caller closes in.archive, also on
// error), the provenance read into memory, up to one byte more than the registry takes (it
// says what is too large). Other fields are ignored, as ChartMuseum does.
func (h *handler) readMultipart(r *http.Request) (in publishInput, err error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return in, badRequest("the multipart body cannot be read: %v; send -F chart=@myapp-1.0.0.tgz", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return in, multipartError(err)
		}
		switch part.FormName() {
		case fieldChart:
			if in.archive != nil {
				return in, badRequest("the multipart body has two %q fields: upload one chart per request", fieldChart)
			}
			if in.archive, err = h.reg.ReceiveChart(r.Context(), multipartPart{part}); err != nil {
				return in, err
			}
		case fieldProv:
			if in.prov != nil {
				return in, badRequest("the multipart body has two %q fields: send one provenance file", fieldProv)
			}
			if in.prov, err = readProv(part); err != nil {
				return in, err
			}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return in, multipartError(err)
			}
		}
	}
	if in.archive == nil {
		return in, badRequest("the multipart body has no %q field: send the archive as -F chart=@myapp-1.0.0.tgz "+
			"(and its provenance as -F prov=@myapp-1.0.0.tgz.prov), or the archive alone as the raw body", fieldChart)
	}
	return in, nil
}

// multipartPart reads a part of a multipart body, its failures answered as multipartError's.
type multipartPart struct{ r io.Reader }

func (p multipartPart) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = multipartError(err)
	}
	return n, err
}

// readProv reads a provenance file, up to one byte more than the registry takes.
func readProv(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, registry.MaxProvSize+1))
	if err != nil {
		return nil, multipartError(err)
	}
	return b, nil
}

// multipartError turns a failure reading a multipart body into its answer: 413 past the body
// limit, else 400.
func multipartError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return badRequest("the multipart body is malformed: %v", err)
}

// postProv serves POST /api/<ns>/prov: the provenance file of a version published without
// one (raw body, or a multipart prov field). The .prov names its archive and that archive's
// sha256; both must match a published version of the namespace.
func (h *handler) postProv(w http.ResponseWriter, r *http.Request, t target) error {
	body := h.limitBody(w, r)
	var prov []byte
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		prov, err = readProvField(r)
	} else {
		prov, err = readProv(body)
	}
	if err != nil {
		return err
	}
	if len(prov) == 0 {
		return badRequest("the body is empty: send the .prov made by helm package --sign")
	}
	c, err := h.reg.AttachProvenance(r.Context(), registry.AttachProvenanceRequest{Namespace: t.ns, Prov: prov, Actor: httpx.Principal(r).Name})
	if err != nil {
		return err
	}
	httpx.SetAudit(r, httpx.AuditFacts{Repository: c.Repository, Version: c.Version, Digest: c.ProvDigest.String()})
	httpx.WriteJSON(w, http.StatusCreated, httpx.ContentTypeJSON, savedBody)
	return nil
}

// readProvField reads the prov field of a multipart body.
func readProvField(r *http.Request) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("the multipart body cannot be read: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, badRequest("the multipart body has no %q field: send -F prov=@myapp-1.0.0.tgz.prov", fieldProv)
		}
		if err != nil {
			return nil, multipartError(err)
		}
		if part.FormName() == fieldProv {
			return readProv(part)
		}
	}
}
