package release

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// DefaultImageTagKeys are the values keys read as the chart's default image
// tag: image.tag and imageTag at any depth (image.tag, controller.image.tag,
// imageTag, app.imageTag).
var DefaultImageTagKeys = []string{"**.image.tag", "**.imageTag"}

// checkImageTagKeys refuses patterns that cannot match anything.
func checkImageTagKeys(patterns []string) error {
	for _, p := range patterns {
		if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") {
			return fmt.Errorf("image tag key %q: write a dotted values path such as image.tag, *.image.tag or **.imageTag", p)
		}
		for _, seg := range strings.Split(p, ".") {
			if _, err := path.Match(seg, ""); err != nil {
				return fmt.Errorf("image tag key %q: bad pattern %q: %w", p, seg, err)
			}
		}
	}
	return nil
}

// matchKey matches a values path against a dotted pattern: each segment a
// glob for one key (path.Match syntax), "**" any number of keys.
func matchKey(pattern, segs []string) bool {
	if len(pattern) == 0 {
		return len(segs) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchKey(pattern[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], segs[0])
	return ok && matchKey(pattern[1:], segs[1:])
}

// imageTag is the default image tag found in values.
type imageTag struct {
	segs  []string
	value string
	line  int
}

// findImageTag returns the chart's main default image tag: among keys
// matching the patterns whose value is a string or number, the shallowest,
// then the first in the file. ok is false when there is none.
func findImageTag(values map[string]any, patterns []string, lines lineIndex) (imageTag, bool) {
	split := make([][]string, len(patterns))
	for i, p := range patterns {
		split[i] = strings.Split(p, ".")
	}
	var best imageTag
	found := false
	var walk func(m map[string]any, segs []string)
	walk = func(m map[string]any, segs []string) {
		for k, v := range m {
			p := appendSeg(segs, k)
			if sub, ok := v.(map[string]any); ok {
				walk(sub, p)
				continue
			}
			var s string
			switch x := v.(type) {
			case string:
				s = x
			case float64:
				s = fmt.Sprint(x)
			case json.Number:
				s = x.String()
			default:
				continue
			}
			matched := false
			for _, pat := range split {
				if matchKey(pat, p) {
					matched = true
					break
				}
			}
			if !matched {
				continue
			}
			cand := imageTag{segs: p, value: s, line: lines.exact(p)}
			if !found || cmp.Or(cmp.Compare(len(cand.segs), len(best.segs)), cmp.Compare(cand.line, best.line),
				strings.Compare(valuesPath(cand.segs), valuesPath(best.segs))) < 0 {
				best, found = cand, true
			}
		}
	}
	walk(values, nil)
	return best, found
}

// sameVersion compares an image tag with appVersion, ignoring a leading
// "v" and a digest ("1.2.3@sha256:…").
func sameVersion(tag, appVersion string) bool {
	norm := func(s string) string {
		s, _, _ = strings.Cut(s, "@")
		return strings.TrimPrefix(strings.TrimSpace(s), "v")
	}
	return norm(tag) == norm(appVersion)
}
