package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/server"
)

// resolveServe parses args against the serve settings with env and an optional config file,
// as `chartroom serve` does, and returns the options.
func resolveServe(t *testing.T, args []string, env map[string]string, file string) (*serveOptions, error) {
	t.Helper()
	o := &serveOptions{cfg: server.DefaultConfig()}
	ss := o.settings()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ss.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	path := ""
	if file != "" {
		path = filepath.Join(t.TempDir(), "chartroom.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return o, ss.resolve(fs, getenv, path)
}

func TestServeDefaults(t *testing.T) {
	o, err := resolveServe(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want := server.DefaultConfig()
	if !reflect.DeepEqual(o.cfg, want) || o.logFormat != "" {
		t.Fatalf("defaults = %+v; want %+v", o.cfg, want)
	}
	if want.Listen != ":8080" || want.DataDir != "./chartroom-data" || want.MaxManifestSize != 4<<20 ||
		want.ShutdownTimeout != 30*time.Second || want.MaxBlobSize != 0 || want.AnonymousRead {
		t.Fatalf("documented defaults changed: %+v", want)
	}
}

func TestServePrecedence(t *testing.T) {
	file := `
listen: 127.0.0.1:1111
data-dir: /from/file
anonymous-read: true
immutable-tags: [file/*, other/*]
max-blob-size: 1GiB
max-manifest-size: 1MiB
shutdown-timeout: 5s
log-format: text
external-url: https://file.example.com
allow-sparse-manifests: true
`
	env := map[string]string{
		"CHARTROOM_LISTEN":           "127.0.0.1:2222",
		"CHARTROOM_DATA_DIR":         "/from/env",
		"CHARTROOM_IMMUTABLE_TAGS":   "env/*, prod/*",
		"CHARTROOM_MAX_BLOB_SIZE":    "2GiB",
		"CHARTROOM_ANONYMOUS_READ":   "false",
		"CHARTROOM_EXTERNAL_URL":     "", // empty: unset
		"CHARTROOM_SHUTDOWN_TIMEOUT": "7s",
		"CHARTROOM_LOG_LEVEL":        "debug",
	}
	args := []string{"--listen", "127.0.0.1:3333", "--immutable-tags", "flag/*", "--immutable-tags=x/*", "--shutdown-timeout=9s"}
	o, err := resolveServe(t, args, env, file)
	if err != nil {
		t.Fatal(err)
	}
	got := o.cfg
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen: flag beats env and file", got.Listen, "127.0.0.1:3333"},
		{"data-dir: env beats file", got.DataDir, "/from/env"},
		{"anonymous-read: env false beats file true", got.AnonymousRead, false},
		{"immutable-tags: flag list replaces", got.ImmutableTags, []string{"flag/*", "x/*"}},
		{"max-blob-size: env", got.MaxBlobSize, int64(2 << 30)},
		{"max-manifest-size: file", got.MaxManifestSize, int64(1 << 20)},
		{"shutdown-timeout: flag", got.ShutdownTimeout, 9 * time.Second},
		{"log-format: file", o.logFormat, "text"},
		{"log-level: env", o.logLevel, "debug"},
		{"external-url: file (empty env ignored)", got.ExternalURL, "https://file.example.com"},
		{"allow-sparse-manifests: file", got.AllowSparseManifests, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// Environment lists are comma-separated and replace the file's.
	o, err = resolveServe(t, nil, env, file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"env/*", "prod/*"}; !reflect.DeepEqual(o.cfg.ImmutableTags, want) {
		t.Errorf("immutable-tags from env = %v; want %v", o.cfg.ImmutableTags, want)
	}
}

func TestServeBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string // substrings of the error
	}{
		{name: "size flag", args: []string{"--max-blob-size", "lots"}, want: []string{"--max-blob-size", "4MiB or 10GiB"}},
		{name: "zero manifest size", args: []string{"--max-manifest-size=0"}, want: []string{"--max-manifest-size", "above 0"}},
		{name: "zero chart size", args: []string{"--max-chart-size=0"}, want: []string{"--max-chart-size", "above 0"}},
		{name: "render memory too small", args: []string{"--render-memory=64MiB"}, want: []string{"render-memory", "128MiB"}},
		{name: "render memory env", env: map[string]string{"CHARTROOM_RENDER_MEMORY": "1MiB"}, want: []string{"render-memory", "128MiB"}},
		{name: "duration flag", args: []string{"--shutdown-timeout=soon"}, want: []string{"--shutdown-timeout", "30s"}},
		{name: "listen flag", args: []string{"--listen=8080"}, want: []string{"--listen", "host:port"}},
		{name: "bool flag", args: []string{"--anonymous-read=maybe"}, want: []string{"--anonymous-read", "true or false"}},
		{name: "log format", args: []string{"--log-format=xml"}, want: []string{"--log-format", "json or text"}},
		{name: "log level", env: map[string]string{"CHARTROOM_LOG_LEVEL": "verbose"}, want: []string{"CHARTROOM_LOG_LEVEL", "--log-level", "debug", "error"}},
		{name: "pattern", args: []string{"--immutable-tags=prod/["}, want: []string{"--immutable-tags", "prod/*"}},
		{name: "url", args: []string{"--external-url=charts"}, want: []string{"--external-url", "https://"}},
		{name: "env", env: map[string]string{"CHARTROOM_MAX_MANIFEST_SIZE": "big"}, want: []string{"CHARTROOM_MAX_MANIFEST_SIZE", "--max-manifest-size", "4MiB"}},
		{name: "file value", file: "shutdown-timeout: forever\n", want: []string{"line 1", "shutdown-timeout", "30s"}},
		{name: "file unknown key", file: "listen: :1\nport: 8080\n", want: []string{"line 2", `unknown setting "port"`, "listen"}},
		{name: "file not a mapping", file: "- listen\n", want: []string{"expected a mapping"}},
		{name: "file bad yaml", file: "listen: [\n", want: []string{"config file"}},
		{name: "file list for scalar", file: "listen: [a, b]\n", want: []string{"listen", "single value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveServe(t, tt.args, tt.env, tt.file)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestServeEmptyConfigFile(t *testing.T) {
	for _, f := range []string{"\n", "# nothing\n", "listen: ~\n"} {
		o, err := resolveServe(t, nil, nil, f)
		if err != nil || o.cfg.Listen != ":8080" {
			t.Errorf("config %q: %v, listen %q", f, err, o.cfg.Listen)
		}
	}
}

// TestServeExitCodes runs the command as main does.
func TestServeExitCodes(t *testing.T) {
	t.Run("bad flag exits 2 with one line", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code := Execute(context.Background(), []string{"serve", "--max-blob-size=lots"}, &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "--max-blob-size") {
			t.Fatalf("exit %d, stderr %q; want 2 and one line naming the flag", code, stderr.String())
		}
	})
	t.Run("bad env exits 2", func(t *testing.T) {
		t.Setenv("CHARTROOM_LISTEN", "nowhere")
		var stderr bytes.Buffer
		code := Execute(context.Background(), []string{"serve"}, &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "CHARTROOM_LISTEN") {
			t.Fatalf("exit %d, stderr %q; want 2 naming CHARTROOM_LISTEN", code, stderr.String())
		}
	})
	t.Run("missing config file exits 2", func(t *testing.T) {
		var stderr bytes.Buffer
		code := Execute(context.Background(), []string{"serve", "--config", filepath.Join(t.TempDir(), "none.yaml")}, &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "config file") {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	})
	t.Run("stops cleanly when cancelled", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		t.Setenv("CHARTROOM_ADMIN_PASSWORD", "pw")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stderr := &lockedBuffer{}
		go func() {
			for !strings.Contains(stderr.String(), `"msg":"listening"`) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()
		code := Execute(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json"}, &bytes.Buffer{}, stderr)
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, stderr.String())
		}
		for _, want := range []string{`"msg":"listening"`, `"msg":"stopped"`} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("log lacks %s: %s", want, stderr.String())
			}
		}
		if _, err := os.Stat(filepath.Join(dir, server.DatabaseFile)); err != nil {
			t.Errorf("data dir not created: %v", err)
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := Execute(context.Background(), []string{"version"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "chartroom ") {
		t.Errorf("version printed %q", stdout.String())
	}
}
