package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/chartroom/chartroom/internal/blob/fs"
	"github.com/chartroom/chartroom/internal/meta/metatest"
)

// A chart manifest carries its version's tag only: tagging chart 2.0.0 as 1.0.0 (or latest)
// would make `helm pull --version 1.0.0` return 2.0.0 and keep the real 1.0.0 out forever.
func TestChartManifestCarriesOnlyItsVersionTag(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{})
	const repo = "team/sq"
	v2 := simpleChart(t, "sq", "2.0.0", "2", "two")
	m2 := r.chartManifestFor(t, repo, helmConfig(t, v2), v2, "")
	d2 := digest.FromBytes(m2)
	if err := r.push(repo, "2.0.0", m2); err != nil {
		t.Fatal(err)
	}
	again := r.chartManifestFor(t, repo, helmConfig(t, v2), v2, "2026-01-01T00:00:00Z") // same chart, another manifest
	for _, tc := range []struct {
		name, ref string
		body      []byte
		tags      []string
	}{
		{"push by digest with ?tag= of another version", d2.String(), m2, []string{"1.0.0"}},
		{"push by digest with its own and another tag", d2.String(), m2, []string{"2.0.0", "latest"}},
		{"push by tag latest", "latest", m2, nil},
		{"push by tag of another version", "1.0.0", m2, nil},
		{"another manifest of the same chart, ?tag=1.0.0", digest.FromBytes(again).String(), again, []string{"1.0.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := r.push(repo, tc.ref, tc.body, tc.tags...)
			if !errors.Is(err, ErrManifestInvalid) {
				t.Fatalf("got %v, want ErrManifestInvalid", err)
			}
			for _, tag := range []string{"1.0.0", "latest"} {
				if d := r.tagDigest(t, repo, tag); d != "" {
					t.Fatalf("tag %s was set to %s", tag, d)
				}
			}
		})
	}
	v1 := simpleChart(t, "sq", "1.0.0", "1", "one")
	if _, err := r.publishBytes(ctx, v1, PublishChartRequest{Namespace: "team"}); err != nil {
		t.Fatalf("the real 1.0.0: %v", err)
	}
	rc, _, _, err := r.OpenChart(ctx, "team", "sq", "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	c, _ := r.ChartVersion(ctx, "team", "sq", "1.0.0")
	if got := r.tagDigest(t, repo, "1.0.0"); got != c.ManifestDigest {
		t.Fatalf("tag 1.0.0 names %s, want the real 1.0.0's manifest %s", got, c.ManifestDigest)
	}
}

// A deleted chart version's tag stays reserved for that chart: no image, no other chart
// version takes it, by any route, whichever way the version was deleted; the same archive
// published again gets it back.
func TestDeletedChartVersionReservesItsTag(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"classic API", "OCI delete of the tag", "OCI delete of the manifest"} {
		t.Run(how, func(t *testing.T) {
			r := newTestRegistry(t, Options{})
			const repo = "team/sq"
			v1 := simpleChart(t, "sq", "1.0.0", "1", "one")
			v2 := simpleChart(t, "sq", "2.0.0", "2", "two")
			c1, err := r.publishBytes(ctx, v1, PublishChartRequest{Namespace: "team"})
			if err != nil {
				t.Fatal(err)
			}
			c2, err := r.publishBytes(ctx, v2, PublishChartRequest{Namespace: "team"})
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "classic API":
				err = r.DeleteChartVersion(ctx, "team", "sq", "1.0.0", "")
			case "OCI delete of the tag":
				err = r.DeleteManifest(ctx, repo, "1.0.0", "")
			default:
				err = r.DeleteManifest(ctx, repo, c1.ManifestDigest.String(), "")
			}
			if err != nil {
				t.Fatal(err)
			}
			img := r.imageFor(t, repo, "an image")
			m2, err := r.GetManifest(ctx, repo, c2.ManifestDigest.String(), true)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, ref string
				body      []byte
				tags      []string
				want      error
			}{
				{"image by tag", "1.0.0", img, nil, ErrImmutable},
				{"image by digest ?tag=", digest.FromBytes(img).String(), img, []string{"1.0.0"}, ErrImmutable},
				{"chart 2.0.0 ?tag=", c2.ManifestDigest.String(), m2.Content, []string{"1.0.0"}, ErrManifestInvalid},
			} {
				err := r.push(repo, tc.ref, tc.body, tc.tags...)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", tc.name, err, tc.want)
				}
				if tc.want == ErrImmutable && (!strings.Contains(err.Error(), "reserved") || !strings.Contains(err.Error(), c1.ChartDigest.String())) {
					t.Errorf("%s: error %q should say the tag is reserved for chart %s", tc.name, err, c1.ChartDigest)
				}
				if d := r.tagDigest(t, repo, "1.0.0"); d != "" {
					t.Fatalf("%s: tag 1.0.0 was set to %s", tc.name, d)
				}
			}
			// The very same archive comes back (in a new manifest over OCI): allowed.
			back := r.chartManifestFor(t, repo, helmConfig(t, v1), v1, "2027-01-01T00:00:00Z")
			if err := r.push(repo, "1.0.0", back); err != nil {
				t.Fatalf("re-publishing the same archive: %v", err)
			}
			if got := r.tagDigest(t, repo, "1.0.0"); got != digest.FromBytes(back) {
				t.Fatalf("tag 1.0.0 names %s, want the re-published manifest", got)
			}
			c, err := r.ChartVersion(ctx, "team", "sq", "1.0.0")
			if err != nil || c.ChartDigest != c1.ChartDigest {
				t.Fatalf("1.0.0 after re-publishing: %+v %v", c, err)
			}
		})
	}
}

func TestRepositoryPatterns(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"prod/*", []string{"prod/app", "prod/team/app", "prod/a/b/c"}, []string{"prod", "production/app", "team/prod/app"}},
		{"prod/?", []string{"prod/a"}, []string{"prod/ab", "prod/a/b"}},
		{"*/charts/*", []string{"team/charts/app", "a/b/charts/c/d"}, []string{"charts/app", "team/charts"}},
		{"release", []string{"release"}, []string{"release/app", "releases"}},
		{"*", []string{"a", "a/b/c"}, nil},
		{"team.x/app-?", []string{"team.x/app-1"}, []string{"teamyx/app-1"}},
		{"prod*", []string{"prod", "production/app", "prod/app"}, []string{"team/prod"}},
	}
	for _, tc := range cases {
		re, err := CompileRepositoryPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		for _, n := range tc.match {
			if !re.MatchString(n) {
				t.Errorf("%s does not cover %s", tc.pattern, n)
			}
		}
		for _, n := range tc.miss {
			if re.MatchString(n) {
				t.Errorf("%s covers %s", tc.pattern, n)
			}
		}
	}
	for _, bad := range []string{"", "prod/[a-z]", "Prod/*", "prod\\*", "prod/{a,b}", "prod /x"} {
		if err := ValidateRepositoryPattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	if _, err := New(context.Background(), nil, nil, Options{ImmutableTags: []string{"prod/["}}); err == nil {
		t.Error("New accepted a malformed pattern")
	}
}

// In a repository with immutable tags (prod/* covers nested names), a tag never names other
// content again: deleting the tag or the manifest first does not free it.
func TestImmutableTagsSurviveDeletes(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t, Options{ImmutableTags: []string{"prod/*"}})
	for _, repo := range []string{"prod/app", "prod/team/app"} {
		t.Run(repo, func(t *testing.T) {
			a, b := r.imageFor(t, repo, "content a"), r.imageFor(t, repo, "content b")
			da := digest.FromBytes(a)
			if err := r.push(repo, "v1", a); err != nil {
				t.Fatal(err)
			}
			if err := r.push(repo, "v1", b); !errors.Is(err, ErrImmutable) {
				t.Fatalf("moving v1: %v", err)
			}
			for _, del := range []string{"v1", da.String()} {
				if err := r.DeleteManifest(ctx, repo, del, ""); err != nil {
					t.Fatal(err)
				}
				for _, push := range []struct{ ref, tag string }{{"v1", ""}, {digest.FromBytes(b).String(), "v1"}} {
					var tags []string
					if push.tag != "" {
						tags = []string{push.tag}
					}
					err := r.push(repo, push.ref, b, tags...)
					if !errors.Is(err, ErrImmutable) || !strings.Contains(err.Error(), da.String()) {
						t.Fatalf("after deleting %s, v1 → other content (%s): %v", del, push.ref, err)
					}
				}
				if err := r.push(repo, "v1", a); err != nil {
					t.Fatalf("after deleting %s, v1 → the same content again: %v", del, err)
				}
				if got := r.tagDigest(t, repo, "v1"); got != da {
					t.Fatalf("v1 names %s", got)
				}
			}
		})
	}
	t.Run("a repository no pattern covers", func(t *testing.T) {
		const repo = "prod"
		a, b := r.imageFor(t, repo, "a"), r.imageFor(t, repo, "b")
		if err := r.push(repo, "v1", a); err != nil {
			t.Fatal(err)
		}
		if err := r.push(repo, "v1", b); err != nil {
			t.Fatalf("a mutable tag did not move: %v", err)
		}
	})
	t.Run("a chart version deleted and published again with the same archive", func(t *testing.T) {
		v := simpleChart(t, "app", "1.0.0", "1", "x")
		c, err := r.publishBytes(ctx, v, PublishChartRequest{Namespace: "prod/charts"})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteChartVersion(ctx, "prod/charts", "app", "1.0.0", ""); err != nil {
			t.Fatal(err)
		}
		if err := r.push(c.Repository, "1.0.0", r.imageFor(t, c.Repository, "other")); !errors.Is(err, ErrImmutable) {
			t.Fatalf("an image under the deleted version's tag: %v", err)
		}
		again, err := r.publishBytes(ctx, v, PublishChartRequest{Namespace: "prod/charts"})
		if err != nil {
			t.Fatalf("the same archive again: %v", err)
		}
		if got := r.tagDigest(t, c.Repository, "1.0.0"); got != again.ManifestDigest {
			t.Fatalf("1.0.0 names %s, want %s", got, again.ManifestDigest)
		}
	})
}

// A tag set before its repository's tags became immutable (or before the upgrade that keeps
// records) is still held after a delete.
func TestImmutableTagsRecordOlderTagsOnDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := metatest.Open(t, dir)
	store, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	before, err := New(ctx, db, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const repo = "prod/app"
	a := before.imageFor(t, repo, "a")
	if err := before.push(repo, "v1", a); err != nil {
		t.Fatal(err)
	}
	after, err := New(ctx, db, store, Options{ImmutableTags: []string{"prod/*"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := after.DeleteManifest(ctx, repo, "v1", ""); err != nil {
		t.Fatal(err)
	}
	if err := after.push(repo, "v1", after.imageFor(t, repo, "b")); !errors.Is(err, ErrImmutable) {
		t.Fatalf("v1 → other content after the delete: %v", err)
	}
}

// Two replicas (two connections to one database) racing to set one immutable tag to
// different content: exactly one wins, before and after the tag is deleted.
func TestImmutableTagConcurrentPushesOneWinner(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var replicas []*Registry
	for i := 0; i < 2; i++ {
		db := metatest.Open(t, dir)
		r, err := New(ctx, db, store, Options{ImmutableTags: []string{"prod/*"}})
		if err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, r)
	}
	const repo, n = "prod/app", 12
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = replicas[0].imageFor(t, repo, fmt.Sprint("content ", i))
	}
	race := func() int {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = replicas[i%2].push(repo, "v1", bodies[i])
			}(i)
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0 && !bytes.Equal(bodies[i], bodies[winner]):
				t.Fatalf("two winners: %d and %d", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, ErrImmutable):
				t.Fatalf("push %d: %v", i, err)
			}
		}
		return winner
	}
	first := race()
	if first < 0 {
		t.Fatal("no push won")
	}
	if err := replicas[1].DeleteManifest(ctx, repo, "v1", ""); err != nil {
		t.Fatal(err)
	}
	if second := race(); second != first {
		t.Fatalf("after the delete push %d won; only push %d's content may", second, first)
	}
	if got := replicas[0].tagDigest(t, repo, "v1"); got != digest.FromBytes(bodies[first]) {
		t.Fatalf("v1 names %s", got)
	}
}
