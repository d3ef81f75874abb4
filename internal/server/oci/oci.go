// Package oci serves the OCI Distribution Spec v1.1 API under /v2/.
package oci

import (
	"net/http"

	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// Options tune the OCI API. The zero value is the default of each field.
type Options struct{}

// New returns the handler for every path under /v2/.
func New(reg *registry.Registry, authz *auth.Service, opts Options) http.Handler {
	return http.NotFoundHandler()
}
