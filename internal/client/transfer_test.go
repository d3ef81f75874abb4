package client

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/chartroom/chartroom/internal/chart"
)

// Every pair of transports: what one pushes, the other pulls with the same bytes.
func TestPushPullBothTransports(t *testing.T) {
	srv := newTestServer(t)
	env := newTestEnv(t)
	c := env.admin(t)
	ctx := context.Background()
	signer := newTestSigner(t, "Publisher")

	for _, push := range []string{"oci", "https"} {
		t.Run("push "+push, func(t *testing.T) {
			ns := "team/" + push
			dir := t.TempDir()
			archive := testArchive(t, dir, "myapp", "1.4.2", "a")
			signer.sign(t, archive)
			dest := srv.oci(ns)
			if push == "https" {
				dest = srv.repo(ns)
			}
			res, err := c.Push(ctx, archive, dest)
			if err != nil {
				t.Fatal(err)
			}
			want := readFile(t, archive)
			if res.Name != "myapp" || res.Version != "1.4.2" || !res.Prov || res.Digest != "sha256:"+sha256Hex(want) {
				t.Errorf("push result %+v", res)
			}
			// Same bytes again: accepted.
			if _, err := c.Push(ctx, archive, dest); err != nil {
				t.Fatalf("pushing the same archive again: %v", err)
			}
			for _, pull := range []string{"oci", "https"} {
				t.Run("pull "+pull, func(t *testing.T) {
					args := []string{srv.oci(ns) + "/myapp"}
					if pull == "https" {
						args = []string{srv.repo(ns), "myapp"}
					}
					ref, err := c.ParseChartRef(args, "")
					if err != nil {
						t.Fatal(err)
					}
					out := t.TempDir()
					got, err := c.Pull(ctx, ref, PullOptions{Version: "1.4.2", DestDir: out, Verify: signer.verifier()})
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(readFile(t, got.Path), want) {
						t.Error("pulled archive differs from the pushed one")
					}
					if !bytes.Equal(readFile(t, got.ProvPath), readFile(t, archive+".prov")) {
						t.Error("pulled .prov differs from the pushed one")
					}
					if !got.Verified || got.SignedBy == "" || got.Path != filepath.Join(out, "myapp-1.4.2.tgz") {
						t.Errorf("pull result %+v", got)
					}
					if names := listDir(t, out); !slices.Equal(names, []string{"myapp-1.4.2.tgz", "myapp-1.4.2.tgz.prov"}) {
						t.Errorf("destination holds %v", names)
					}
				})
			}
		})
	}
}

// The manifest is helm push's: config = ConfigJSON, layers sorted by digest, helm's
// annotations, created = the archive's mtime.
func TestPushOCIManifestIsHelms(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	archive := testArchive(t, dir, "myapp", "0.1.0+build.7", "a")
	newTestSigner(t, "Publisher").sign(t, archive)
	res, err := c.Push(ctx, archive, srv.oci("team"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref != srv.host+"/team/myapp:0.1.0_build.7" {
		t.Errorf("ref %q: + must become _ in the tag", res.Ref)
	}
	repo, err := c.repository(srv.host, "team/myapp")
	if err != nil {
		t.Fatal(err)
	}
	desc, rc, err := repo.FetchReference(ctx, "0.1.0_build.7")
	if err != nil {
		t.Fatal(err)
	}
	data, err := content.ReadAll(rc, desc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != res.ManifestDigest {
		t.Errorf("manifest digest %s, push said %s", desc.Digest, res.ManifestDigest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(archive)
	defer f.Close()
	ch, err := chart.LoadArchive(f, chart.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	config, _ := chart.ConfigJSON(ch.Metadata)
	if m.Config.MediaType != chart.ConfigMediaType || m.Config.Size != int64(len(config)) {
		t.Errorf("config %+v", m.Config)
	}
	if len(m.Layers) != 2 || m.Layers[0].Digest >= m.Layers[1].Digest {
		t.Errorf("layers not sorted by digest: %+v", m.Layers)
	}
	wantAnn := chart.OCIAnnotations(ch.Metadata, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC).Local())
	if len(m.Annotations) != len(wantAnn) {
		t.Errorf("annotations %v, want %v", m.Annotations, wantAnn)
	}
	for k, v := range wantAnn {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if m.MediaType != "" {
		t.Errorf("helm push leaves the manifest's mediaType out; got %q", m.MediaType)
	}
}

func TestPullVersionSelection(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, v := range []string{"1.0.0", "1.2.0", "1.2.1", "1.3.0-rc.1", "2.0.0"} {
		if _, err := c.Push(ctx, testArchive(t, dir, "web", v, "x"), srv.oci("team")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ want, got string }{
		{"", "2.0.0"},
		{"^1", "1.2.1"},
		{"~1.0", "1.0.0"},
		{"1.2.0", "1.2.0"},
		{">=1.3.0-0 <2", "1.3.0-rc.1"},
		{"1.3.0-rc.1", "1.3.0-rc.1"},
	} {
		for _, transport := range []string{"oci", "https"} {
			t.Run(transport+" "+tc.want, func(t *testing.T) {
				args := []string{srv.oci("team") + "/web"}
				if transport == "https" {
					args = []string{srv.repo("team"), "web"}
				}
				ref, err := c.ParseChartRef(args, "")
				if err != nil {
					t.Fatal(err)
				}
				res, err := c.Pull(ctx, ref, PullOptions{Version: tc.want, DestDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if res.Version != tc.got {
					t.Errorf("--version %q pulled %s, want %s", tc.want, res.Version, tc.got)
				}
			})
		}
	}
	ref, _ := c.ParseChartRef([]string{srv.oci("team") + "/web"}, "")
	_, err := c.Pull(ctx, ref, PullOptions{Version: "^3", DestDir: t.TempDir()})
	oneLineError(t, err, ErrNotFound, "web in oci://"+srv.host+"/team has no version matching \"^3\"; it has 2.0.0, 1.3.0-rc.1, 1.2.1")
	ref, _ = c.ParseChartRef([]string{srv.repo("team"), "nope"}, "")
	_, err = c.Pull(ctx, ref, PullOptions{DestDir: t.TempDir()})
	oneLineError(t, err, ErrNotFound, "has no chart nope")
	ref, _ = c.ParseChartRef([]string{srv.oci("team") + "/web"}, "")
	_, err = c.Pull(ctx, ref, PullOptions{Version: "not a version", DestDir: t.TempDir()})
	oneLineError(t, err, nil, "neither a version nor a constraint")
}

// A failed verification writes nothing; a chart without .prov fails --verify.
func TestPullVerifyFailureLeavesNothing(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	signed := testArchive(t, dir, "signed", "1.0.0", "a")
	newTestSigner(t, "Publisher").sign(t, signed)
	unsigned := testArchive(t, dir, "unsigned", "1.0.0", "a")
	for _, a := range []string{signed, unsigned} {
		if _, err := c.Push(ctx, a, srv.oci("team")); err != nil {
			t.Fatal(err)
		}
	}
	stranger := newTestSigner(t, "Stranger")
	for _, tc := range []struct{ name, want string }{
		{"signed", "unknown key"},
		{"unsigned", "no provenance file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			ref, _ := c.ParseChartRef([]string{srv.oci("team") + "/" + tc.name}, "")
			_, err := c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: out, Verify: stranger.verifier()})
			oneLineError(t, err, ErrVerifyFailed, tc.want)
			if names := listDir(t, out); len(names) != 0 {
				t.Errorf("a failed verification left %v", names)
			}
		})
	}
}

func TestPushConflict(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	first := testArchive(t, dir, "myapp", "1.0.0", "first")
	other := testArchive(t, filepath.Join(dir, "other"), "myapp", "1.0.0", "second")
	for _, dest := range []string{srv.oci("team"), srv.repo("team")} {
		t.Run(dest, func(t *testing.T) {
			if _, err := c.Push(ctx, first, dest); err != nil {
				t.Fatal(err)
			}
			_, err := c.Push(ctx, other, dest)
			oneLineError(t, err, ErrConflict, "myapp 1.0.0 is already published", "bump")
		})
	}
}

// A push of the published chart packaged again at another time is refused, saying that only
// the packaging differs, not that the content does.
func TestPushRepackagedConflict(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	first := testArchive(t, dir, "myapp", "1.0.0", "same")
	src := filepath.Join(dir, "src-myapp-1.0.0-same", "myapp")
	again, _, err := chart.PackageToDir(ctx, src, filepath.Join(dir, "again"), chart.PackageOptions{ModTime: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(readFile(t, first), readFile(t, again)) {
		t.Fatal("the two archives are identical")
	}
	for _, dest := range []string{srv.oci("team"), srv.repo("team")} {
		t.Run(dest, func(t *testing.T) {
			if _, err := c.Push(ctx, first, dest); err != nil {
				t.Fatal(err)
			}
			_, err := c.Push(ctx, again, dest)
			oneLineError(t, err, ErrConflict, "myapp 1.0.0 is already published", "same chart", "only the packaging differs", "package reproducibly", "SOURCE_DATE_EPOCH")
			if strings.Contains(err.Error(), "different content") {
				t.Errorf("the refusal says the content differs: %v", err)
			}
		})
	}
}

func TestPushRefusesBadArchives(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.tgz")
	os.WriteFile(junk, []byte("not a chart"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.tgz"), "no such file"},
		{dir, "is a directory"},
		{junk, "junk.tgz"},
	} {
		_, err := c.Push(ctx, tc.path, srv.oci("team"))
		oneLineError(t, err, nil, tc.want)
	}
	_, err := c.Push(ctx, junk, "ftp://example.com/x")
	oneLineError(t, err, nil, "not a registry location")
}
