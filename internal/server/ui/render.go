package ui

import (
	"bytes"
	"container/list"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/alecthomas/chroma/v2"
	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/microcosm-cc/bluemonday"
	"github.com/opencontainers/go-digest"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"golang.org/x/sync/singleflight"

	"github.com/chartroom/chartroom/internal/chart"
)

// What the chart page shows of a version's archive (README, values.yaml, values.schema.json)
// is read from the stored archive by chart.ArchiveWalker, which checks it as at publish and
// holds only those three files of the chart's own directory (each at most
// chart.DefaultMaxFileSize), at most GOMAXPROCS archives at a time; the rendered pieces are
// kept in memory per archive digest, up to pieceCacheBytes.

// Bounds of what a chart page renders.
const (
	// highlightLimit: a values.yaml up to this size is syntax-highlighted; a larger one is
	// shown as plain text (escaped) up to plainLimit, with a link to download it whole.
	highlightLimit = 256 << 10
	plainLimit     = 512 << 10
	// readmeLimit: a larger README is rendered up to this size, with a note.
	readmeLimit = 1 << 20
	// schemaRows bounds the rows of the values.schema.json table, schemaDepth its nesting.
	schemaRows  = 1000
	schemaDepth = 12
	// pieceCacheBytes bounds the rendered pieces kept in memory.
	pieceCacheBytes = 64 << 20
)

// pieces are the rendered parts of a chart version's page that come from its archive.
type pieces struct {
	Readme          template.HTML // sanitized; "" without a README
	ReadmeTruncated bool
	HasValues       bool
	Values          template.HTML // highlighted, or escaped plain text
	ValuesSize      int
	ValuesTruncated bool // shown in part: the download link has it whole
	Highlighted     bool
	Schema          []schemaRow
	SchemaError     string // why values.schema.json is not shown as a table
	SchemaTruncated bool
	size            int // bytes held, for the cache's bound
}

// schemaRow is a property of values.schema.json.
type schemaRow struct {
	Path, Type, Default, Description string
	Required                         bool
}

var (
	markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))
	// sanitizer is bluemonday's policy for user-generated content: no scripts, no event
	// handlers, no style, no javascript: or data: links; goldmark already leaves raw HTML out.
	sanitizer = bluemonday.UGCPolicy()
)

// renderMarkdown renders a README (GitHub-flavoured Markdown) to sanitized HTML. goldmark
// runs without its unsafe option (raw HTML in the Markdown is omitted, dangerous link
// schemes dropped) and bluemonday's UGC policy cleans what it produced.
func renderMarkdown(src []byte) template.HTML {
	var buf bytes.Buffer
	if err := markdown.Convert(src, &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(string(src)))
	}
	return template.HTML(sanitizer.SanitizeBytes(buf.Bytes())) // #nosec: sanitized
}

// lexerFS holds chroma's YAML lexer definition (lexers/embedded/yaml.xml of
// github.com/alecthomas/chroma/v2 v2.27.0, MIT licence, Copyright (C) 2017 Alec Thomas): loading
// it alone keeps the ~280 other lexers chroma's lexers package embeds out of the binary.
//
//go:embed lexers/yaml.xml
var lexerFS embed.FS

var (
	yamlLexer   = chroma.Coalesce(chroma.MustNewXMLLexer(lexerFS, "lexers/yaml.xml"))
	chromaStyle = styles.Get("github")
)

// highlightYAML highlights YAML with CSS classes (chroma.css), never inline styles.
func highlightYAML(src []byte) (template.HTML, error) {
	it, err := yamlLexer.Tokenise(nil, string(src))
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	f := chromahtml.New(chromahtml.WithClasses(true), chromahtml.TabWidth(2))
	if err := f.Format(&buf, chromaStyle, it); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil
}

// plainCode is escaped text in a pre.
func plainCode(src []byte) template.HTML {
	return template.HTML(`<pre class="code">` + template.HTMLEscapeString(string(src)) + `</pre>`)
}

// renderValues renders values.yaml within the bounds.
func renderValues(p *pieces, values []byte) {
	p.HasValues, p.ValuesSize = true, len(values)
	if len(values) <= highlightLimit {
		if h, err := highlightYAML(values); err == nil {
			p.Values, p.Highlighted = h, true
			return
		}
	}
	shown := values
	if len(shown) > plainLimit {
		shown, p.ValuesTruncated = cutUTF8(shown, plainLimit), true
	}
	p.Values = plainCode(shown)
}

// cutUTF8 cuts b to at most n bytes, not inside a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && b[n]&0xC0 == 0x80 {
		n--
	}
	return b[:n]
}

// schemaTable reads values.schema.json into rows: each property's path (a.b.c, [] for array
// items), type, default (as JSON), description and whether its parent requires it.
func schemaTable(p *pieces, raw []byte) {
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		p.SchemaError = "values.schema.json is not a JSON object: " + err.Error()
		return
	}
	var walk func(prefix string, node map[string]any, depth int)
	walk = func(prefix string, node map[string]any, depth int) {
		if depth > schemaDepth {
			return
		}
		props, _ := node["properties"].(map[string]any)
		required := map[string]bool{}
		if req, ok := node["required"].([]any); ok {
			for _, r := range req {
				if s, ok := r.(string); ok {
					required[s] = true
				}
			}
		}
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if len(p.Schema) >= schemaRows {
				p.SchemaTruncated = true
				return
			}
			child, _ := props[n].(map[string]any)
			pth := n
			if prefix != "" {
				pth = prefix + "." + n
			}
			row := schemaRow{Path: pth, Required: required[n]}
			if child != nil {
				row.Type = schemaType(child["type"])
				if d, ok := child["default"]; ok {
					if b, err := json.Marshal(d); err == nil {
						row.Default = string(cutUTF8(b, 200))
					}
				}
				row.Description, _ = child["description"].(string)
				if row.Description == "" {
					row.Description, _ = child["title"].(string)
				}
			}
			p.Schema = append(p.Schema, row)
			if child != nil {
				walk(pth, child, depth+1)
				if items, ok := child["items"].(map[string]any); ok {
					walk(pth+"[]", items, depth+1)
				}
			}
		}
	}
	walk("", root, 0)
}

func schemaType(t any) string {
	switch v := t.(type) {
	case string:
		return v
	case []any:
		var s []string
		for _, x := range v {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, " | ")
	}
	return ""
}

// readPieces reads and renders a version's README, values and schema from its archive.
func (u *UI) readPieces(ctx context.Context, ns, name, version string) (*pieces, error) {
	rc, _, d, err := u.reg.OpenChart(ctx, ns, name, version, false)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	select {
	case u.archiveSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-u.archiveSlots }()
	var w chart.ArchiveWalker
	_, files, err := w.Walk(rc, chart.Limits{}, func(rel string) bool {
		return isReadme(rel) || rel == chart.ValuesfileName || rel == "values.schema.json"
	})
	if err != nil {
		return nil, fmt.Errorf("read %s %s from its stored archive %s: %w", name, version, d, err)
	}
	p := &pieces{}
	var readme []byte
	for _, f := range files {
		switch {
		case isReadme(f.Name) && (readme == nil || f.Name == "README.md"):
			readme = f.Data
		case f.Name == chart.ValuesfileName:
			renderValues(p, f.Data)
		case f.Name == "values.schema.json":
			schemaTable(p, f.Data)
		}
	}
	if readme != nil {
		if len(readme) > readmeLimit {
			readme, p.ReadmeTruncated = cutUTF8(readme, readmeLimit), true
		}
		p.Readme = renderMarkdown(readme)
	}
	p.size = len(p.Readme) + len(p.Values) + 200*len(p.Schema) + 512
	return p, nil
}

// isReadme reports whether a chart-relative path is the chart's README (README.md, or
// README, readme.md…, at the top of the chart, not a subchart's).
func isReadme(rel string) bool {
	if strings.Contains(rel, "/") {
		return false
	}
	switch strings.ToLower(rel) {
	case "readme.md", "readme", "readme.markdown", "readme.txt":
		return true
	}
	return false
}

// pieceCache keeps rendered pieces per archive digest, least recently used out first, within
// a bound in bytes.
type pieceCache struct {
	mu     sync.Mutex
	max    int
	size   int
	order  *list.List // of *pieceEntry, most recent first
	byKey  map[digest.Digest]*list.Element
	flight singleflight.Group
}

type pieceEntry struct {
	key digest.Digest
	p   *pieces
}

func newPieceCache(max int) *pieceCache {
	return &pieceCache{max: max, order: list.New(), byKey: map[digest.Digest]*list.Element{}}
}

func (c *pieceCache) get(d digest.Digest) *pieces {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byKey[d]; e != nil {
		c.order.MoveToFront(e)
		return e.Value.(*pieceEntry).p
	}
	return nil
}

func (c *pieceCache) put(d digest.Digest, p *pieces) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.size > c.max/4 || c.byKey[d] != nil {
		return // too big to keep, or kept already
	}
	c.byKey[d] = c.order.PushFront(&pieceEntry{key: d, p: p})
	c.size += p.size
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*pieceEntry)
		c.order.Remove(last)
		delete(c.byKey, e.key)
		c.size -= e.p.size
	}
}

// chartPieces returns the rendered pieces of a version (archive digest d), from the cache or
// read once however many ask at the same time.
func (u *UI) chartPieces(ctx context.Context, ns, name, version string, d digest.Digest) (*pieces, error) {
	if p := u.pieces.get(d); p != nil {
		return p, nil
	}
	v, err, _ := u.pieces.flight.Do(string(d), func() (any, error) {
		p, err := u.readPieces(context.WithoutCancel(ctx), ns, name, version)
		if err != nil {
			return nil, err
		}
		u.pieces.put(d, p)
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*pieces), nil
}

func archiveSlots() chan struct{} { return make(chan struct{}, runtime.GOMAXPROCS(0)) }
