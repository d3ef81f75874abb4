package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// IgnoreFileName is the file at a chart's root listing paths to leave out
// of the package.
const IgnoreFileName = ".helmignore"

// IgnoreRules is a parsed .helmignore, with Helm v3's exact semantics
// (pkg/ignore), quirks included, so that a chart packages to the same file
// set as with `helm package`:
//
//   - one shell glob per line (Go's path.Match), blank lines and lines
//     starting with '#' skipped, surrounding spaces trimmed;
//   - a pattern without '/' matches the base name, one with '/' the whole
//     path relative to the chart, a leading '/' anchors it (same effect);
//   - a trailing '/' matches directories only, and an ignored directory is
//     skipped whole;
//   - "**" is refused;
//   - rules are tried in order and the first match decides; a negated rule
//     "!p" ignores every path that does NOT match p (Helm's behaviour: a
//     negation does not re-include, it excludes everything else).
type IgnoreRules struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	raw     string
	glob    string
	negate  bool
	mustDir bool
	base    bool // match against the base name only
}

// DefaultIgnoreRules returns the rules Helm applies to every chart
// directory on top of .helmignore: hidden files directly under templates/.
func DefaultIgnoreRules() *IgnoreRules {
	r := &IgnoreRules{}
	r.AddDefaults()
	return r
}

// AddDefaults appends Helm's built-in rule "templates/.?*".
func (r *IgnoreRules) AddDefaults() {
	_ = r.add("templates/.?*")
}

// ParseIgnore reads .helmignore rules. A UTF-8 byte order mark is skipped.
// Errors name the line.
func ParseIgnore(rd io.Reader) (*IgnoreRules, error) {
	r := &IgnoreRules{}
	s := bufio.NewScanner(rd)
	line := 0
	for s.Scan() {
		text := s.Bytes()
		if line == 0 {
			text = bytes.TrimPrefix(text, utf8BOM)
		}
		line++
		if err := r.add(string(text)); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", IgnoreFileName, line, err)
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", IgnoreFileName, err)
	}
	return r, nil
}

func (r *IgnoreRules) add(rule string) error {
	rule = strings.TrimSpace(rule)
	if rule == "" || strings.HasPrefix(rule, "#") {
		return nil
	}
	if strings.Contains(rule, "**") {
		return errors.New(`"**" is not supported in .helmignore: list the directories, or use a pattern without a slash to match names anywhere`)
	}
	if _, err := path.Match(rule, "abc"); err != nil {
		return fmt.Errorf("bad pattern %q: %w", rule, err)
	}
	p := ignorePattern{raw: rule}
	if strings.HasPrefix(rule, "!") {
		p.negate = true
		rule = rule[1:]
	}
	if strings.HasSuffix(rule, "/") {
		p.mustDir = true
		rule = strings.TrimSuffix(rule, "/")
	}
	switch {
	case strings.HasPrefix(rule, "/"):
		p.glob = strings.TrimPrefix(rule, "/")
	case strings.Contains(rule, "/"):
		p.glob = rule
	default:
		p.glob = rule
		p.base = true
	}
	r.patterns = append(r.patterns, p)
	return nil
}

// Ignore reports whether the '/'-separated path (relative to the chart
// root) is to be left out; isDir says whether it is a directory.
func (r *IgnoreRules) Ignore(p string, isDir bool) bool {
	if p == "" || p == "." || p == "./" {
		return false
	}
	for _, pat := range r.patterns {
		if pat.negate {
			if pat.mustDir && !isDir {
				return true
			}
			if !pat.match(p) {
				return true
			}
			continue
		}
		if pat.mustDir && !isDir {
			continue
		}
		if pat.match(p) {
			return true
		}
	}
	return false
}

func (p ignorePattern) match(name string) bool {
	if p.base {
		name = path.Base(name)
	}
	ok, err := path.Match(p.glob, name)
	return err == nil && ok
}
