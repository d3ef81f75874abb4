package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/server"
)

// TestServeUploadSettings: --upload-expiry and --max-uploads-per-user, their defaults, their
// environment variables and the values they refuse.
func TestServeUploadSettings(t *testing.T) {
	o, err := resolveServe(t, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.UploadExpiry != 24*time.Hour || o.cfg.MaxUploadsPerUser != 100 {
		t.Fatalf("defaults: expiry %s, max uploads %d; want 24h and 100", o.cfg.UploadExpiry, o.cfg.MaxUploadsPerUser)
	}
	env := map[string]string{"CHARTROOM_UPLOAD_EXPIRY": "2h", "CHARTROOM_MAX_UPLOADS_PER_USER": "7"}
	o, err = resolveServe(t, nil, env, "upload-expiry: 3h\nmax-uploads-per-user: 9\n")
	if err != nil || o.cfg.UploadExpiry != 2*time.Hour || o.cfg.MaxUploadsPerUser != 7 {
		t.Fatalf("from env: %v, expiry %s, max %d", err, o.cfg.UploadExpiry, o.cfg.MaxUploadsPerUser)
	}
	o, err = resolveServe(t, []string{"--upload-expiry=30m", "--max-uploads-per-user=0"}, env, "")
	if err != nil || o.cfg.UploadExpiry != 30*time.Minute || o.cfg.MaxUploadsPerUser != 0 || o.cfg.Validate() != nil {
		t.Fatalf("from flags: %v, expiry %s, max %d", err, o.cfg.UploadExpiry, o.cfg.MaxUploadsPerUser)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--upload-expiry=tomorrow"}, []string{"--upload-expiry", "30s"}},
		{[]string{"--max-uploads-per-user=-1"}, []string{"--max-uploads-per-user", "≥ 0"}},
		{[]string{"--max-uploads-per-user=many"}, []string{"--max-uploads-per-user", "whole number"}},
	} {
		_, err := resolveServe(t, tc.args, nil, "")
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v lacks %q", tc.args, err, w)
			}
		}
	}
	o, err = resolveServe(t, []string{"--upload-expiry=0s"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.cfg.Validate(); err == nil || !strings.Contains(err.Error(), "upload-expiry") {
		t.Errorf("--upload-expiry=0s: %v, want it refused", err)
	}
	if server.DefaultConfig().Validate() != nil {
		t.Error("the default config does not validate")
	}
}
