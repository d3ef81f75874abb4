package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dirTree lists the files and directories below dir with their modes and contents.
func dirTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = info.Mode().String() + " " + sha256Hex(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestToolchainHelmHabits: what helm users type works as with helm. pull --untar writes
// the tree helm pull --untar writes and refuses an existing one as helm does; pulling an
// archive's URL saves what helm saves; pushing an archive helm pushed before (another
// mtime, another manifest) prints the digest the tag resolves to, helm's.
func TestToolchainHelmHabits(t *testing.T) {
	for _, h := range helmVersions {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			helm := need(t, h)
			srv := StartServer(t)
			e := newToolEnv(t)
			host, plain := srv.Host(), "--plain-http"
			e.must(helm, "registry", "login", host, "--username", "admin", "--password", srv.Password, plain)
			demo := tcHelmChart(t, e, helm, t.TempDir(), "demo", "0.1.0")
			helmDigest := printedDigest(t, e.must(helm, "push", demo, "oci://"+host+"/team", plain))

			t.Log("pull --untar --untardir: the tree helm writes")
			ref := "oci://" + host + "/team/demo"
			helmDest, ourDest := t.TempDir(), t.TempDir()
			e.must(helm, "pull", ref, "--version", "0.1.0", plain, "--untar", "--untardir", "vendor", "--destination", helmDest)
			e.tcMust("pull", ref, "--version", "0.1.0", plain, "--untar", "--untardir", "vendor", "-d", ourDest)
			theirs, ours := dirTree(t, helmDest), dirTree(t, ourDest)
			if len(ours) != len(theirs) || len(ours) < 5 {
				t.Errorf("chartroom wrote %d entries, helm %d:\nours:   %v\ntheirs: %v", len(ours), len(theirs), ours, theirs)
			}
			for k, v := range theirs {
				if ours[k] != v {
					t.Errorf("%s: chartroom wrote %q, helm %q", k, ours[k], v)
				}
			}

			t.Log("an existing chart directory: helm refuses, and so does chartroom")
			if out, err := e.run(helm, "pull", ref, "--version", "0.1.0", plain, "--untar", "--untardir", "vendor", "--destination", helmDest); err == nil || !strings.Contains(out, "already exists") {
				t.Errorf("helm pull --untar into an existing directory: %v\n%s", err, out)
			}
			e.tcRun("", "", nil, "pull", ref, "--version", "0.1.0", plain, "--untar", "--untardir", "vendor", "-d", ourDest).
				wantFailure(t, 2, filepath.Join(ourDest, "vendor", "demo")+" already exists")

			t.Log("pull of an archive's URL: the file helm saves")
			e.tcMust("push", demo, srv.URL("/team"))
			u := srv.URL("/team/charts/demo-0.1.0.tgz")
			helmDest, ourDest = t.TempDir(), t.TempDir()
			e.must(helm, "pull", u, "--username", "admin", "--password", srv.Password, "--destination", helmDest)
			e.tcRun("", "", []string{"CHARTROOM_USERNAME=admin", "CHARTROOM_PASSWORD=" + srv.Password}, "pull", u, "-d", ourDest)
			tcSameFile(t, filepath.Join(ourDest, "demo-0.1.0.tgz"), filepath.Join(helmDest, "demo-0.1.0.tgz"))
			tcSameFile(t, filepath.Join(ourDest, "demo-0.1.0.tgz"), demo)

			t.Log("chartroom push of the archive helm pushed, touched since: the tag's digest, helm's")
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(demo, later, later); err != nil {
				t.Fatal(err)
			}
			if d := printedDigest(t, e.tcMust("push", demo, "oci://"+host+"/team", plain)); d != helmDigest {
				t.Errorf("chartroom push printed %s; the tag names helm's %s", d, helmDigest)
			}
		})
	}
}
