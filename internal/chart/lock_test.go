package chart

import (
	"errors"
	"strings"
	"testing"
)

// helmChartYAMLDeps and helmLock come from a chart made with `helm create`
// whose Chart.yaml declares this dependency on a local chart; the digest
// is the one `helm dependency update` (v3.22.0) wrote into Chart.lock.
const helmChartYAMLDeps = `apiVersion: v2
name: mychart
version: 0.1.0
dependencies:
- name: libdep
  version: "~0.3.0"
  repository: "file://../libdep"
  condition: libdep.enabled
  tags: [a]
  import-values:
  - child: x
    parent: y
`

const helmLock = `dependencies:
- name: libdep
  repository: file://../libdep
  version: 0.3.1
digest: sha256:8aa24dfaeb89357d73b79c1c39bba08f3216e29aeb29c5a57d80b876810980c8
generated: "2026-11-26T01:22:32.47285164Z"
`

func TestLockDigestMatchesHelm(t *testing.T) {
	md, err := ParseMetadata([]byte(helmChartYAMLDeps))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := ParseLock([]byte(helmLock))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LockDigest(md.Dependencies, lock.Dependencies)
	if err != nil {
		t.Fatal(err)
	}
	if got != lock.Digest {
		t.Errorf("LockDigest = %s, helm wrote %s", got, lock.Digest)
	}
	if err := CheckLock(md, lock); err != nil {
		t.Errorf("CheckLock: %v", err)
	}
	if lock.Generated.IsZero() || lock.Generated.Nanosecond() != 472851640 {
		t.Errorf("generated = %v", lock.Generated)
	}
}

func TestLockDigestV2(t *testing.T) {
	deps := []*Dependency{{Name: "a", Version: "1.0.0", Repository: "https://x"}}
	// sha256 of {"dependencies":[{"name":"a","version":"1.0.0","repository":"https://x"}]}
	got, _ := LockDigestV2(deps)
	if !strings.HasPrefix(got, "sha256:") || len(got) != 71 {
		t.Fatalf("got %s", got)
	}
	md := &Metadata{APIVersion: "v1", Name: "old", Version: "1.0.0", Dependencies: deps}
	lock := &Lock{Digest: got, Dependencies: []*Dependency{{Name: "a", Version: "1.0.0", Repository: "https://x"}}}
	if err := CheckLock(md, lock); err != nil {
		t.Errorf("Helm 2 digest refused for a v1 chart: %v", err)
	}
	md.APIVersion = "v2"
	if err := CheckLock(md, lock); err == nil {
		t.Error("Helm 2 digest accepted for a v2 chart")
	}
}

func TestCheckLockDifferences(t *testing.T) {
	req := func() []*Dependency {
		return []*Dependency{
			{Name: "a", Version: "~1.2.0", Repository: "https://one"},
			{Name: "b", Version: "^2.0.0", Repository: "https://two"},
		}
	}
	locked := func() []*Dependency {
		return []*Dependency{
			{Name: "a", Version: "1.2.5", Repository: "https://one"},
			{Name: "b", Version: "2.1.0", Repository: "https://two"},
		}
	}
	tests := []struct {
		name  string
		edit  func(req, lock []*Dependency) ([]*Dependency, []*Dependency)
		wants []string
	}{
		{"in sync", func(r, l []*Dependency) ([]*Dependency, []*Dependency) { return r, l }, nil},
		{"added to Chart.yaml", func(r, l []*Dependency) ([]*Dependency, []*Dependency) {
			return append(r, &Dependency{Name: "c", Version: "1.0.0", Repository: "https://three"}), l
		}, []string{"c: in Chart.yaml but not in Chart.lock"}},
		{"removed from Chart.yaml", func(r, l []*Dependency) ([]*Dependency, []*Dependency) { return r[:1], l }, []string{"b: in Chart.lock but no longer in Chart.yaml"}},
		{"repository changed", func(r, l []*Dependency) ([]*Dependency, []*Dependency) {
			r[0].Repository = "https://moved"
			return r, l
		}, []string{`a: repository is "https://moved" in Chart.yaml but "https://one" in Chart.lock`}},
		{"range no longer satisfied", func(r, l []*Dependency) ([]*Dependency, []*Dependency) {
			r[1].Version = "^3.0.0"
			return r, l
		}, []string{`b: locked version 2.1.0 does not satisfy "^3.0.0"`}},
		{"condition changed", func(r, l []*Dependency) ([]*Dependency, []*Dependency) {
			r[0].Condition = "a.enabled"
			return r, l
		}, []string{"condition, tags, alias, import-values or order changed"}},
		{"reordered", func(r, l []*Dependency) ([]*Dependency, []*Dependency) {
			return []*Dependency{r[1], r[0]}, l
		}, []string{"b: listed at position 1 in Chart.yaml but 2 in Chart.lock"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r0, l0 := req(), locked()
			digest, _ := LockDigest(r0, l0)
			r, l := tc.edit(r0, l0)
			err := CheckLock(&Metadata{APIVersion: "v2", Dependencies: r}, &Lock{Digest: digest, Dependencies: l})
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLockOutOfSync) {
				t.Fatalf("err = %v, want ErrLockOutOfSync", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "run `chartroom lock`") {
				t.Errorf("error does not say what to do: %v", err)
			}
		})
	}
	t.Run("repository alias resolved by Helm", func(t *testing.T) {
		// helm dependency update hashes the URL that @stable stands for.
		r, l := req(), locked()
		digest, _ := LockDigest(r, l)
		r[1].Repository = "@stable"
		if err := CheckLock(&Metadata{APIVersion: "v2", Dependencies: r}, &Lock{Digest: digest, Dependencies: l}); err != nil {
			t.Errorf("alias repository: %v", err)
		}
	})
	if err := CheckLock(&Metadata{APIVersion: "v2", Dependencies: req()}, nil); !errors.Is(err, ErrLockOutOfSync) {
		t.Errorf("missing lock: %v", err)
	}
	if err := CheckLock(&Metadata{APIVersion: "v2"}, nil); err != nil {
		t.Errorf("no dependencies, no lock: %v", err)
	}
}

func TestLockMarshalRoundTrip(t *testing.T) {
	lock, _ := ParseLock([]byte(helmLock))
	out, err := lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != helmLock {
		t.Errorf("Marshal:\n%s\nwant (as helm writes):\n%s", out, helmLock)
	}
}

// A Chart.lock written by `helm dependency update` (v3.22.0) for a
// dependency on "@localrepo", a repository added with `helm repo add`.
func TestCheckLockHelmAliasRepository(t *testing.T) {
	md, err := ParseMetadata([]byte("apiVersion: v2\nname: aliaschart\nversion: 0.1.0\ndependencies:\n- name: libdep\n  version: \"~0.3.0\"\n  repository: \"@localrepo\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := ParseLock([]byte("dependencies:\n- name: libdep\n  repository: http://127.0.0.1:18765\n  version: 0.3.1\ndigest: sha256:670c33ce443da0a1c8b8927603df3c8dea67293844248ee25e79651fbae56edc\ngenerated: \"2026-11-26T01:26:56.026766282Z\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckLock(md, lock); err != nil {
		t.Error(err)
	}
}
