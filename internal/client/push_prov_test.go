package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chartroom/chartroom/internal/chart"
	"github.com/chartroom/chartroom/internal/provenance"
)

// A .prov beside the archive that does not vouch for it (left from an earlier build, or
// made for a file of another name) is refused before anything is uploaded, over both
// transports: published, it could never be replaced and every pull --verify would fail.
func TestPushRefusesStaleProv(t *testing.T) {
	srv := newTestServer(t)
	c := newTestEnv(t).admin(t)
	ctx := context.Background()
	signer := newTestSigner(t, "Publisher")

	for i, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the archive to push
		want  string
	}{
		{"archive rebuilt after signing", func(t *testing.T, dir string) string {
			signer.sign(t, testArchive(t, dir, "myapp", "1.0.0", "before"))
			return testArchive(t, dir, "myapp", "1.0.0", "after") // same path, new bytes
		}, "the provenance file says sha256:"},
		{"signed under another file name", func(t *testing.T, dir string) string {
			a := testArchive(t, dir, "myapp", "1.0.0", "x")
			renamed := filepath.Join(dir, "renamed.tgz")
			if err := os.Rename(a, renamed); err != nil {
				t.Fatal(err)
			}
			signer.sign(t, renamed)
			if err := os.Rename(renamed, a); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(renamed+".prov", a+".prov"); err != nil {
				t.Fatal(err)
			}
			return a
		}, `lists "renamed.tgz", not "myapp-1.0.0.tgz"`},
		{"not a provenance file", func(t *testing.T, dir string) string {
			a := testArchive(t, dir, "myapp", "1.0.0", "y")
			if err := os.WriteFile(a+".prov", []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return a
		}, "no PGP signed message"},
	} {
		for _, transport := range []string{"oci", "https"} {
			t.Run(tc.name+" "+transport, func(t *testing.T) {
				ns := fmt.Sprintf("stale%d/%s", i, transport)
				dest := srv.oci(ns)
				if transport == "https" {
					dest = srv.repo(ns)
				}
				archive := tc.setup(t, t.TempDir())
				_, err := c.Push(ctx, archive, dest)
				oneLineError(t, err, nil, "refusing to push "+archive+" with "+archive+".prov", tc.want,
					"nothing was uploaded", "chartroom sign "+archive, "delete the stale .prov")
				if tc.name != "not a provenance file" && !errors.Is(err, provenance.ErrDigestMismatch) {
					t.Errorf("error does not wrap provenance.ErrDigestMismatch: %v", err)
				}

				// Nothing reached the registry: no version, and not even the archive's blob.
				for _, args := range [][]string{{srv.oci(ns) + "/myapp"}, {srv.repo(ns), "myapp"}} {
					ref, err := c.ParseChartRef(args, "")
					if err != nil {
						t.Fatal(err)
					}
					_, err = c.Pull(ctx, ref, PullOptions{Version: "1.0.0", DestDir: t.TempDir()})
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("pull %v after the refused push: %v, want not found", args, err)
					}
				}
				repo, err := c.repository(srv.host, ns+"/myapp")
				if err != nil {
					t.Fatal(err)
				}
				data := readFile(t, archive)
				exists, err := repo.Exists(ctx, ocispec.Descriptor{MediaType: chart.ChartLayerMediaType, Digest: digest.FromBytes(data), Size: int64(len(data))})
				if err != nil || exists {
					t.Errorf("the archive's blob exists=%v (%v) after the refused push", exists, err)
				}

				// Signed again, the same archive goes through.
				signer.sign(t, archive)
				res, err := c.Push(ctx, archive, dest)
				if err != nil || !res.Prov {
					t.Fatalf("push after signing again: %+v, %v", res, err)
				}
			})
		}
	}
}
