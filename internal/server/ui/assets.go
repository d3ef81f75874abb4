package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/styles"
)

// asset is an embedded static file (or one made at start, chroma.css).
type asset struct {
	data        []byte
	contentType string
	hash        string // of data, in URLs: a new release's file gets a new URL
}

type assets struct{ files map[string]*asset }

// loadAssets reads static/ and makes chroma.css: the highlighting classes of values.yaml, a
// light style and, under prefers-color-scheme: dark, a dark one.
func loadAssets() (*assets, error) {
	a := &assets{files: map[string]*asset{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := fs.ReadFile(staticFS, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		a.add(e.Name(), data)
	}
	var css bytes.Buffer
	f := html.New(html.WithClasses(true))
	if err := f.WriteCSS(&css, styles.Get("github")); err != nil {
		return nil, err
	}
	css.WriteString("@media (prefers-color-scheme: dark) {\n")
	if err := f.WriteCSS(&css, styles.Get("github-dark")); err != nil {
		return nil, err
	}
	css.WriteString("}\n")
	a.add("chroma.css", css.Bytes())
	return a, nil
}

func (a *assets) add(name string, data []byte) {
	sum := sha256.Sum256(data)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	a.files[name] = &asset{data: data, contentType: ct, hash: hex.EncodeToString(sum[:6])}
}

// assetURL is the URL of a static file, with its content hash so that browsers may keep it.
func (u *UI) assetURL(name string) string {
	a := u.assets.files[name]
	if a == nil {
		return Prefix + "static/" + name
	}
	return Prefix + "static/" + name + "?v=" + a.hash
}

// static serves the embedded files.
func (u *UI) static(w http.ResponseWriter, r *http.Request) {
	a := u.assets.files[r.PathValue("file")]
	if a == nil {
		u.fail(u.request(w, r), errNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.data)))
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if r.Header.Get("If-None-Match") == `"`+a.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.data)
	}
}
