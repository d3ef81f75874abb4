package client

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ProgressWriter returns w when progress bars belong there — w is a terminal and the CI
// environment variable is unset — and nil otherwise.
func ProgressWriter(w io.Writer) io.Writer {
	if os.Getenv("CI") != "" {
		return nil
	}
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

// progressInterval is how often a bar is redrawn.
const progressInterval = 100 * time.Millisecond

// progress draws one transfer's bar on a terminal line: label, bar, percent, bytes.
type progress struct {
	w     io.Writer
	label string
	total int64

	mu    sync.Mutex
	done  int64
	drawn time.Time
}

// track wraps r so that reading it advances a progress bar of total bytes; finish ends the
// line. Without a progress writer, r is returned as it is.
func (c *Client) track(r io.Reader, label string, total int64) (io.Reader, func()) {
	if c.opts.Progress == nil {
		return r, func() {}
	}
	p := &progress{w: c.opts.Progress, label: label, total: total}
	p.draw(true)
	return &progressReader{r: r, p: p}, func() { p.finish() }
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	if n > 0 {
		pr.p.add(int64(n))
	}
	return n, err
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if time.Since(p.drawn) >= progressInterval {
		p.drawLocked()
	}
}

func (p *progress) draw(force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if force || time.Since(p.drawn) >= progressInterval {
		p.drawLocked()
	}
}

func (p *progress) drawLocked() {
	p.drawn = time.Now()
	const width = 24
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled < width && filled > 0 {
		bar = strings.Repeat("=", filled-1) + ">" + strings.Repeat(" ", width-filled)
	}
	label := p.label
	if len(label) > 40 {
		label = "…" + label[len(label)-39:]
	}
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%-40s %s\x1b[K", label, humanBytes(p.done))
		return
	}
	fmt.Fprintf(p.w, "\r%-40s [%s] %3.0f%% %s/%s\x1b[K", label, bar, frac*100, humanBytes(p.done), humanBytes(p.total))
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked()
	fmt.Fprint(p.w, "\n")
}

// humanBytes renders a size with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
