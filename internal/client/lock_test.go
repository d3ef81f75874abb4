package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/chartroom/chartroom/internal/chart"
)

// lockFixture publishes dependency charts to a server and writes a chart "app" using them
// from every kind of repository.
type lockFixture struct {
	srv      *testServer
	env      *testEnv
	c        *Client
	app      string            // the chart directory
	archives map[string]string // "name-version" → pushed archive
}

func newLockFixture(t *testing.T) *lockFixture {
	t.Helper()
	ctx := context.Background()
	fx := &lockFixture{srv: newTestServer(t), env: newTestEnv(t), archives: map[string]string{}}
	fx.c = fx.env.admin(t)
	pub := t.TempDir()
	push := func(name, version, dest string) {
		a := testArchive(t, filepath.Join(pub, name+"-"+version), name, version, "x")
		if _, err := fx.c.Push(ctx, a, dest); err != nil {
			t.Fatal(err)
		}
		fx.archives[name+"-"+version] = a
	}
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		push("redis", v, fx.srv.repo("deps"))
	}
	for _, v := range []string{"3.0.0", "3.1.0", "3.2.0-beta.1"} {
		push("pg", v, fx.srv.oci("deps"))
	}
	os.MkdirAll(filepath.Dir(fx.env.repoConfig), 0o755)
	os.WriteFile(fx.env.repoConfig, []byte("repositories:\n- name: mydeps\n  url: "+fx.srv.repo("deps")+"\n"), 0o644)

	root := t.TempDir()
	testChart(t, root, "lib", "0.3.0", "", "x")
	deps := "" +
		"  - name: redis\n    version: ^1.0.0\n    repository: " + fx.srv.repo("deps") + "\n    condition: redis.enabled\n" +
		"  - name: pg\n    version: ~3\n    repository: " + fx.srv.oci("deps") + "\n" +
		"  - name: pg\n    alias: pg-old\n    version: 3.0.0\n    repository: " + fx.srv.oci("deps") + "\n" +
		"  - name: redis\n    alias: cache\n    version: 1.0.0\n    repository: \"@mydeps\"\n    tags: [cache]\n" +
		"  - name: lib\n    version: \">=0.1.0\"\n    repository: file://../lib\n" +
		"  - name: kept\n    version: 1.x\n"
	fx.app = testChart(t, root, "app", "1.0.0", deps, "x")
	testChart(t, filepath.Join(fx.app, "charts"), "kept", "1.2.0", "", "x")
	return fx
}

func TestLockAndBuild(t *testing.T) {
	fx := newLockFixture(t)
	ctx := context.Background()
	c := fx.env.client(t, Options{}) // stored logins only: none needed for reads? log in
	if _, err := c.Login(ctx, fx.srv.host, testUser, testPassword); err != nil {
		t.Fatal(err)
	}
	c = fx.env.client(t, Options{})

	res, err := c.Lock(ctx, fx.app)
	if err != nil {
		t.Fatal(err)
	}
	type dep struct{ name, version, repo string }
	var got []dep
	for _, d := range res.Dependencies {
		got = append(got, dep{d.Name, d.Version, d.Repository})
	}
	want := []dep{
		{"redis", "1.1.0", fx.srv.repo("deps")},
		{"pg", "3.1.0", fx.srv.oci("deps")},
		{"pg", "3.0.0", fx.srv.oci("deps")},
		{"redis", "1.0.0", fx.srv.repo("deps")},
		{"lib", "0.3.0", "file://../lib"},
		{"kept", "1.x", ""},
	}
	if !slices.Equal(got, want) {
		t.Errorf("locked\n %v\nwant\n %v", got, want)
	}
	if !res.Changed || res.File != filepath.Join(fx.app, "Chart.lock") {
		t.Errorf("result %+v", res)
	}
	lock, err := chart.ParseLock(readFile(t, res.File))
	if err != nil {
		t.Fatal(err)
	}
	// The digest is helm's: over Chart.yaml's dependencies (with @mydeps as its URL) and the lock.
	md, err := chart.ParseMetadata(readFile(t, filepath.Join(fx.app, "Chart.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	md.Sanitize()
	md.Dependencies[3].Repository = fx.srv.repo("deps")
	if d, _ := chart.LockDigest(md.Dependencies, lock.Dependencies); d != lock.Digest || d != res.Digest {
		t.Errorf("digest %s, file %s, helm's %s", res.Digest, lock.Digest, d)
	}
	if lock.Generated.IsZero() {
		t.Error("no generated time")
	}
	if _, err := c.CheckLock(ctx, fx.app); err != nil {
		t.Errorf("check after lock: %v", err)
	}
	// Offline, on a machine that never ran helm repo add: the lock records @mydeps' URL.
	if _, err := fx.env.client(t, Options{RepositoryConfig: "-"}).CheckLock(ctx, fx.app); err != nil {
		t.Errorf("check without repositories.yaml: %v", err)
	}

	// Resolving again finds the same: the file is left alone.
	before := readFile(t, res.File)
	res, err = c.Lock(ctx, fx.app)
	if err != nil || res.Changed || !bytes.Equal(before, readFile(t, res.File)) {
		t.Errorf("second lock: changed=%v err=%v", res != nil && res.Changed, err)
	}

	// Build: exactly the locked versions, byte-identical; outdated archives removed.
	stale := filepath.Join(fx.app, "charts", "redis-0.9.0.tgz")
	os.Rename(testArchive(t, t.TempDir(), "redis", "0.9.0", "old"), stale)
	built, err := c.BuildDependencies(ctx, fx.app, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(built.Charts) != 6 || !slices.Equal(built.Removed, []string{stale}) {
		t.Errorf("built %+v removed %v", built.Charts, built.Removed)
	}
	for _, nv := range []string{"redis-1.1.0", "redis-1.0.0", "pg-3.1.0", "pg-3.0.0"} {
		if !bytes.Equal(readFile(t, filepath.Join(fx.app, "charts", nv+".tgz")), readFile(t, fx.archives[nv])) {
			t.Errorf("charts/%s.tgz differs from the published archive", nv)
		}
	}
	names := listDir(t, filepath.Join(fx.app, "charts"))
	sort.Strings(names)
	if want := []string{"kept", "lib-0.3.0.tgz", "pg-3.0.0.tgz", "pg-3.1.0.tgz", "redis-1.0.0.tgz", "redis-1.1.0.tgz"}; !slices.Equal(names, want) {
		t.Errorf("charts/ holds %v, want %v", names, want)
	}
	// The built chart packages: charts/ matches the lock.
	if _, _, err := chart.PackageToDir(ctx, fx.app, t.TempDir(), chart.PackageOptions{}); err != nil {
		t.Errorf("package after build: %v", err)
	}

	// Chart.yaml changes: --check and build refuse, listing the difference; nothing is fetched.
	yaml := readFile(t, filepath.Join(fx.app, "Chart.yaml"))
	yaml = bytes.Replace(yaml, []byte("version: ^1.0.0"), []byte("version: ^2.0.0"), 1)
	os.WriteFile(filepath.Join(fx.app, "Chart.yaml"), yaml, 0o644)
	_, err = c.CheckLock(ctx, fx.app)
	var le *chart.LockError
	if !errors.As(err, &le) || !slices.Contains(le.Differences, `redis: locked version 1.1.0 does not satisfy "^2.0.0" from Chart.yaml`) {
		t.Fatalf("check after editing Chart.yaml: %v", err)
	}
	if _, err := c.BuildDependencies(ctx, fx.app, BuildOptions{}); !errors.As(err, &le) {
		t.Errorf("build with a stale lock: %v", err)
	}
	res, err = c.Lock(ctx, fx.app)
	if err != nil || !res.Changed || res.Dependencies[0].Version != "2.0.0" {
		t.Fatalf("relock: %+v %v", res, err)
	}

	// Nothing satisfies: an error naming what is available; the lock file is untouched.
	before = readFile(t, res.File)
	os.WriteFile(filepath.Join(fx.app, "Chart.yaml"), bytes.Replace(yaml, []byte("version: ^2.0.0"), []byte("version: ^9.0.0"), 1), 0o644)
	_, err = c.Lock(ctx, fx.app)
	oneLineError(t, err, ErrNotFound, `redis "^9.0.0" from `+fx.srv.repo("deps")+" (it has 2.0.0, 1.1.0, 1.0.0)")
	if !bytes.Equal(before, readFile(t, res.File)) {
		t.Error("a failed lock changed Chart.lock")
	}
}

func TestBuildVerifies(t *testing.T) {
	fx := newLockFixture(t)
	ctx := context.Background()
	// Only what the lock names: a chart with one signed dependency.
	signer := newTestSigner(t, "Publisher")
	a := testArchive(t, t.TempDir(), "signed", "1.0.0", "x")
	signer.sign(t, a)
	if _, err := fx.c.Push(ctx, a, fx.srv.oci("deps")); err != nil {
		t.Fatal(err)
	}
	app := testChart(t, t.TempDir(), "app", "1.0.0",
		"  - name: signed\n    version: 1.0.0\n    repository: "+fx.srv.oci("deps")+"\n"+
			"  - name: redis\n    version: 1.0.0\n    repository: "+fx.srv.repo("deps")+"\n", "x")
	if _, err := fx.c.Lock(ctx, app); err != nil {
		t.Fatal(err)
	}
	// redis is unsigned: --verify fails, and charts/ receives nothing.
	_, err := fx.c.BuildDependencies(ctx, app, BuildOptions{Verify: signer.verifier()})
	oneLineError(t, err, ErrVerifyFailed, "redis 1.0.0 has no provenance file")
	if names := listDir(t, filepath.Join(app, "charts")); len(names) != 0 {
		t.Errorf("a failed build left %v in charts/", names)
	}
	res, err := fx.c.BuildDependencies(ctx, app, BuildOptions{})
	if err != nil || len(res.Charts) != 2 {
		t.Fatalf("build: %+v %v", res, err)
	}
}
