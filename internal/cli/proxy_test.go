package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// chartroom proxy add/list/status/remove on serve's data directory: the upstream's password
// from standard input (never printed), a namespace holding charts of its own refused, bad
// upstreams refused with what is expected.
func TestProxyCommand(t *testing.T) {
	dir, _ := servedDataDir(t) // chart myapp in namespace team

	r := run(t, "", "proxy", "add", "team", "https://charts.example.com/stable", "--data-dir", dir)
	r.wantExit(t, 2)
	if !strings.Contains(r.stderr, "holds 1 chart version(s) of its own") {
		t.Errorf("proxy add on a namespace with charts: %s", r.stderr)
	}
	for _, bad := range []string{"https://charts.example.com/stable/index.yaml", "oci://registry.example.com", "charts.example.com"} {
		run(t, "", "proxy", "add", "up", bad, "--data-dir", dir).wantExit(t, 2)
	}
	r = run(t, "s3cret-token\n", "proxy", "add", "up", "https://charts.example.com/stable", "--refresh", "1h", "--username", "ci", "--password-stdin", "--data-dir", dir, "-o", "json")
	r.wantExit(t, 0)
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("proxy add printed the password:\n%s", r.stdout)
	}
	var st proxyStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Upstream != "https://charts.example.com/stable" || st.Refresh != "1h0m0s" || st.Username != "ci" {
		t.Fatalf("proxy add -o json: %v\n%s", err, r.stdout)
	}
	r = run(t, "", "proxy", "list", "--data-dir", dir)
	r.wantExit(t, 0)
	if !strings.Contains(r.stdout, "up\thttps://charts.example.com/stable\trefresh 1h0m0s") {
		t.Errorf("proxy list:\n%s", r.stdout)
	}
	r = run(t, "", "proxy", "status", "--data-dir", dir)
	r.wantExit(t, 0)
	if !strings.Contains(r.stdout, "up: proxy of https://charts.example.com/stable") || !strings.Contains(r.stdout, "never refreshed yet") {
		t.Errorf("proxy status:\n%s", r.stdout)
	}
	run(t, "", "proxy", "remove", "up", "--data-dir", dir).wantExit(t, 0)
	run(t, "", "proxy", "remove", "up", "--data-dir", dir).wantExit(t, 2)
	r = run(t, "", "audit", "--data-dir", dir, "-o", "json")
	if !strings.Contains(r.stdout, "proxy.add") || !strings.Contains(r.stdout, "proxy.remove") || strings.Contains(r.stdout, "s3cret") {
		t.Errorf("audit log:\n%s", r.stdout)
	}
}

// The config file's proxies key: entries read as chartroom proxy add takes them; mistakes
// named with their line.
func TestParseProxies(t *testing.T) {
	read := func(doc string) (*yaml.Node, error) {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(doc), &n)
		return n.Content[0], err
	}
	n, err := read("- namespace: bitnami\n  upstream: https://charts.bitnami.com/bitnami\n  refresh: 30m\n- namespace: team/m\n  upstream: oci://r.example.com/team\n  mirror: true\n  username: ci\n  password: tok\n")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := parseProxies(n)
	if err != nil || len(ps) != 2 || ps[0].Refresh.String() != "30m0s" || !ps[1].Mirror || ps[1].Password != "tok" {
		t.Fatalf("parseProxies = %+v, %v", ps, err)
	}
	for doc, want := range map[string]string{
		"- namespace: a\n  upstream: https://x/y\n  color: red\n": `unknown key "color"`,
		"- namespace: a\n":                                          "give namespace and upstream",
		"- namespace: a\n  upstream: ftp://x/y\n":                   "give an http(s):// URL",
		"- namespace: a\n  upstream: https://x/y\n  refresh: 1ms\n": "expected at least 1s",
	} {
		n, _ := read(doc)
		if _, err := parseProxies(n); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "line") {
			t.Errorf("parseProxies(%q) = %v; want %q with its line", doc, err, want)
		}
	}
	// And through serve's --config: a bad entry stops serve before it starts.
	cfg := filepath.Join(t.TempDir(), "chartroom.yaml")
	if err := os.WriteFile(cfg, []byte("proxies:\n  - namespace: a\n    upstream: ftp://x/y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "serve", "--config", cfg, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	r.wantExit(t, 2)
	if !strings.Contains(r.stderr, "proxies") {
		t.Errorf("serve with a bad proxies entry: %s", r.stderr)
	}
}
