package server

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"4MiB", 4 << 20, false},
		{"4mib", 4 << 20, false},
		{"10GiB", 10 << 30, false},
		{"10G", 10 << 30, false},
		{"1.5GB", 1_500_000_000, false},
		{"512 KiB", 512 << 10, false},
		{"2TB", 2_000_000_000_000, false},
		{"7B", 7, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"-1", 0, true},
		{"10 parsecs", 0, true},
		{"1.2.3MB", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 4 << 20: "4MiB", 10 << 30: "10GiB", 1000: "1000", 3 << 10: "3KiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q; want %q", n, got, want)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"no listen", func(c *Config) { c.Listen = "" }, "listen"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data-dir"},
		{"negative blob size", func(c *Config) { c.MaxBlobSize = -1 }, "max-blob-size"},
		{"zero manifest size", func(c *Config) { c.MaxManifestSize = 0 }, "max-manifest-size"},
		{"negative timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "shutdown-timeout"},
		{"negative shutdown delay", func(c *Config) { c.ShutdownDelay = -time.Second }, "shutdown-delay"},
		{"no shutdown delay", func(c *Config) { c.ShutdownDelay = 0 }, ""},
		{"zero body idle timeout", func(c *Config) { c.BodyIdleTimeout = 0 }, "body-idle-timeout"},
		{"bad pattern", func(c *Config) { c.ImmutableTags = []string{"prod/["} }, "immutable-tags"},
		{"good pattern", func(c *Config) { c.ImmutableTags = []string{"prod/*"} }, ""},
		{"relative external url", func(c *Config) { c.ExternalURL = "charts.example.com" }, "external-url"},
		{"external url", func(c *Config) { c.ExternalURL = "https://charts.example.com/x" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Validate = %v; want one line naming %s", err, tt.want)
			}
		})
	}
}
