package registry_test

import (
	"fmt"
	"testing"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/registry/registrytest"
)

// Every domain error has its own reason, which logs give the requests it refuses.
func TestEveryRegistryErrorHasAReason(t *testing.T) {
	seen := map[string]string{}
	for _, s := range registrytest.Sentinels(t) {
		reason := registry.Reason(fmt.Errorf("publish x 1.0.0: %w", s.Err))
		if reason == "" {
			t.Errorf("%s has no reason: add it to reasons in errors.go", s.Name)
			continue
		}
		if other, dup := seen[reason]; dup {
			t.Errorf("%s and %s share reason %q", s.Name, other, reason)
		}
		seen[reason] = s.Name
	}
	if got := registry.Reason(fmt.Errorf("other")); got != "" {
		t.Errorf("Reason of an error wrapping no sentinel = %q; want \"\"", got)
	}
}
