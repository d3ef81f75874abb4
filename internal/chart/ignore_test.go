package chart

import (
	"strings"
	"testing"
)

// Cases follow Helm v3.22.0 pkg/ignore/rules_test.go, plus its quirks;
// the same table was checked against Helm's package itself.
func TestIgnoreRules(t *testing.T) {
	tests := []struct {
		name    string
		rules   string
		path    string
		isDir   bool
		ignored bool
	}{
		{"basename glob", "*.txt", "cargo/a.txt", false, true},
		{"basename glob no match", "*.txt", "cargo/a.yaml", false, false},
		{"path glob", "cargo/*.txt", "cargo/a.txt", false, true},
		{"path glob other dir", "cargo/*.txt", "mast/a.txt", false, false},
		{"anchored", "/cargo/*.txt", "cargo/a.txt", false, true},
		{"anchored top only", "/a.txt", "cargo/a.txt", false, false},
		{"anchored top", "/a.txt", "a.txt", false, true},
		{"dir rule on dir", "cargo/", "cargo", true, true},
		{"dir rule on file", "cargo/", "cargo", false, false},
		{"dir rule basename", "mast/", "sail/mast", true, true},
		{"char class", "a[b-d].txt", "ac.txt", false, true},
		{"char class miss", "a[b-d].txt", "ae.txt", false, false},
		{"comment", "# *.txt", "a.txt", false, false},
		{"spaces trimmed", "   *.txt   ", "a.txt", false, true},
		{"first match wins", "*.txt\n!important.txt", "important.txt", false, true},
		// Helm quirk: a negation ignores everything it does not match.
		{"negation excludes the rest", "!*.yaml", "README.md", false, true},
		{"negation keeps matches", "!*.yaml", "values.yaml", false, false},
		{"negated dir rule on file", "!cargo/", "x", false, true},
		{"never the root", "*", ".", true, false},
		{"empty path", "*", "", false, false},
		{"default hidden template", "", "templates/.swp", false, true},
		{"default keeps helpers", "", "templates/_helpers.tpl", false, false},
		{"default only templates/", "", ".helmignore", false, false},
		{"default not nested", "", "templates/sub/.x", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseIgnore(strings.NewReader(tc.rules))
			if err != nil {
				t.Fatal(err)
			}
			r.AddDefaults()
			if got := r.Ignore(tc.path, tc.isDir); got != tc.ignored {
				t.Errorf("Ignore(%q, dir=%v) = %v, want %v", tc.path, tc.isDir, got, tc.ignored)
			}
		})
	}
}

func TestParseIgnoreErrors(t *testing.T) {
	for _, tc := range []struct{ name, rules, want string }{
		{"double star", "ok\n**/x\n", ".helmignore:2: \"**\" is not supported"},
		{"bad glob", "[\n", ".helmignore:1: bad pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIgnore(strings.NewReader(tc.rules))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	r, err := ParseIgnore(strings.NewReader("\xEF\xBB\xBF*.txt\n"))
	if err != nil || !r.Ignore("a.txt", false) {
		t.Errorf("BOM not skipped: %v", err)
	}
	if !DefaultIgnoreRules().Ignore("templates/.x", false) {
		t.Error("DefaultIgnoreRules lacks Helm's default")
	}
}
