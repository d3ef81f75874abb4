package release

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/chartroom/chartroom/internal/termsafe"
)

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // plain JSON: "<" stays "<", not "\u003c"
	return enc.Encode(r)
}

var sectionTitles = map[Severity]string{
	Major: "major (breaking)",
	Minor: "minor (new features)",
	Patch: "patch (fixes and other changes)",
}

// WriteText writes the report for people: changes grouped by severity,
// then the problems and the verdict with the required bump.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	src := ""
	if r.Source != "" {
		src = " (" + termsafe.Text(r.Source) + ")"
	}
	if r.FirstRelease {
		fmt.Fprintf(&b, "%s %s: first release%s\n", termsafe.Text(r.Chart), termsafe.Text(r.Current), src)
	} else {
		fmt.Fprintf(&b, "%s %s against %s%s\n", termsafe.Text(r.Chart), termsafe.Text(r.Current), termsafe.Text(r.Baseline), src)
	}
	if len(r.Changes) == 0 && !r.FirstRelease {
		b.WriteString("\nno changes: the content is identical\n")
	}
	for _, s := range []Severity{Major, Minor, Patch} {
		var rows []Change
		for _, c := range r.Changes {
			if c.Severity == s {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s: %d\n", sectionTitles[s], len(rows))
		for _, c := range rows {
			loc := where(termsafe.Text(c.File), c.Line, "  (")
			if c.Line == 0 && (c.Path == c.File || strings.Contains(c.Message, c.File)) {
				loc = "" // the path or message names the file already
			}
			fmt.Fprintf(&b, "  %s%s\n", termsafe.Text(c.String()), loc)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\nnote: %s", termsafe.Text(n))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, p := range r.Problems {
		loc := where(termsafe.Text(p.File), p.Line, "")
		if loc != "" {
			loc = strings.TrimSuffix(loc, ")") + ": "
		}
		fmt.Fprintf(&b, "%s: %s%s\n", p.Level, loc, safeMessage(p))
	}
	fmt.Fprintf(&b, "required bump: %s (smallest valid version: %s)\n", r.Required, termsafe.Text(r.Suggested))
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	_, err := io.WriteString(w, b.String())
	return err
}

// safeMessage is a problem's message made safe to print ([termsafe]): on one line, except
// the list of changes a too-small bump message puts on its own lines, whose items
// discipline made safe.
func safeMessage(p Problem) string {
	if p.Rule == RuleBumpTooSmall {
		return termsafe.Lines(p.Message)
	}
	return termsafe.Text(p.Message)
}

func where(file string, line int, open string) string {
	switch {
	case file == "":
		return ""
	case line > 0:
		return fmt.Sprintf("%s%s:%d)", open, file, line)
	}
	return open + file + ")"
}

// WriteGitHub writes GitHub Actions workflow commands: an error or
// warning annotation per problem, an error per change the version bump
// does not cover ([Report.Bump]), a notice per other change, each on its file and line in
// the pull request. dir is the chart directory relative to the
// repository root ("charts/web"), prefixed to chart-relative file names.
func (r *Report) WriteGitHub(w io.Writer, dir string) error {
	var b strings.Builder
	dir = termsafe.Text(dir)
	for _, p := range r.Problems {
		b.WriteString(annotation(p.Level, dir, termsafe.Text(p.File), p.Line, "chartroom check: "+p.Rule, safeMessage(p)))
	}
	for _, c := range r.Changes {
		level := "notice"
		if r.Required > r.Bump && c.Severity > r.Bump {
			level = LevelError
		}
		b.WriteString(annotation(level, dir, termsafe.Text(c.File), c.Line, "chartroom check: "+c.Severity.String()+" change", termsafe.Text(c.String())))
	}
	if r.FirstRelease {
		fmt.Fprintf(&b, "%s %s: first release, nothing to compare, verdict %s\n", termsafe.Text(r.Chart), termsafe.Text(r.Current), r.Verdict)
	} else {
		fmt.Fprintf(&b, "%s %s against %s: %d changes, required bump %s, smallest valid version %s, verdict %s\n",
			termsafe.Text(r.Chart), termsafe.Text(r.Current), termsafe.Text(r.Baseline), len(r.Changes), r.Required, termsafe.Text(r.Suggested), r.Verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// annotation formats one workflow command, escaped as GitHub requires.
func annotation(level, dir, file string, line int, title, msg string) string {
	var props []string
	if file != "" {
		props = append(props, "file="+escapeProperty(path.Join(dir, file)))
		if line > 0 {
			props = append(props, fmt.Sprintf("line=%d", line))
		}
	}
	props = append(props, "title="+escapeProperty(title))
	return fmt.Sprintf("::%s %s::%s\n", level, strings.Join(props, ","), escapeData(msg))
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
