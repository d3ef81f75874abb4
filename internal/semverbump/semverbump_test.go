package semverbump

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/chartroom/chartroom/internal/chart"
)

func TestBump(t *testing.T) {
	for _, tc := range []struct {
		from  string
		kind  Kind
		preid string // "" when not given
		want  string
	}{
		{"1.4.2", Major, "", "2.0.0"},
		{"1.4.2", Minor, "", "1.5.0"},
		{"1.4.2", Patch, "", "1.4.3"},
		{"1.4.2+build.5", Patch, "", "1.4.3"},
		{"1.4.2+build.5", Prerelease, "", "1.4.3-rc.0"},
		{"2.0.0-rc.1", Major, "", "2.0.0"},
		{"2.1.0-rc.1", Major, "", "3.0.0"},
		{"2.0.1-rc.1", Major, "", "3.0.0"},
		{"1.5.0-rc.1", Minor, "", "1.5.0"},
		{"1.5.1-rc.1", Minor, "", "1.6.0"},
		{"1.4.3-rc.1", Patch, "", "1.4.3"},
		{"1.4.2", Prerelease, "", "1.4.3-rc.0"},
		{"1.4.2", Prerelease, "beta", "1.4.3-beta.0"},
		{"1.5.0-rc.1", Prerelease, "", "1.5.0-rc.2"},
		{"1.5.0-rc.1", Prerelease, "rc", "1.5.0-rc.2"},
		{"1.5.0-rc.1", Prerelease, "beta", "1.5.0-beta.0"},
		{"1.5.0-beta", Prerelease, "", "1.5.0-beta.0"},
		{"1.5.0-beta.1", Prerelease, "", "1.5.0-beta.2"},
		{"1.5.0-0", Prerelease, "", "1.5.0-1"},
		{"1.5.0-alpha.9.x", Prerelease, "", "1.5.0-alpha.10.x"},
		{"1.5.0-rc.9+build.3", Prerelease, "", "1.5.0-rc.10"},
		{"0.0.0", Major, "", "1.0.0"},
		{"0.0.0", Minor, "", "0.1.0"},
		{"0.0.0", Patch, "", "0.0.1"},
	} {
		v, err := chart.ParseVersion(tc.from)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Bump(v, tc.kind, tc.preid)
		if err != nil || got != tc.want {
			t.Errorf("bump %s %s (preid %q) = %q, %v; want %q", tc.kind, tc.from, tc.preid, got, err, tc.want)
		}
	}
}

func TestBumpRefuses(t *testing.T) {
	for _, tc := range []struct {
		from string
		kind Kind
		want string
	}{
		{"1.0.0-rc.18446744073709551615", Prerelease, "cannot be raised"},
		{"1.0.0", "auto", "say which part to raise"},
	} {
		v, err := chart.ParseVersion(tc.from)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Bump(v, tc.kind, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bump %s %s = %q, %v; want an error saying %q", tc.kind, tc.from, got, err, tc.want)
		}
	}
}

func TestValidPreid(t *testing.T) {
	for id, want := range map[string]bool{"rc": true, "beta-2": true, "RC1": true, "": false, "rc.1": false, "b_eta": false, "rc 1": false} {
		if got := ValidPreid(id); got != want {
			t.Errorf("ValidPreid(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestLowerWarning(t *testing.T) {
	for _, tc := range []struct {
		old, preid string
		warn       bool
	}{
		{"1.5.1-rc.1", "beta", true},    // beta < rc
		{"1.5.1-rc.1", "alpha", true},   // alpha < rc
		{"1.5.1-beta.1", "rc", false},   // rc > beta
		{"1.5.1-rc.1", "", false},       // rc.2
		{"1.5.1", "beta", false},        // 1.5.2-beta.0
		{"1.5.1-beta.3", "beta", false}, // beta.4
	} {
		v := semver.MustParse(tc.old)
		next, err := Bump(v, Prerelease, tc.preid)
		if err != nil {
			t.Fatal(err)
		}
		w := LowerWarning(v, next)
		if (w != "") != tc.warn {
			t.Errorf("%s --preid %q → %s: warning %q, want one: %v", tc.old, tc.preid, next, w, tc.warn)
		}
		if tc.warn && !strings.Contains(w, "sorts lower than "+tc.old) {
			t.Errorf("warning %q does not say what sorts lower", w)
		}
	}
}
