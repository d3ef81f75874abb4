package client

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// CredentialPaths locate the credential files. Empty fields take their defaults
// ([DefaultHelmRegistryConfig], [DefaultDockerConfig]).
type CredentialPaths struct {
	// Helm is helm's registry config: logins are written here and read first.
	Helm string
	// Docker is docker's config.json: read when Helm has no login for a host.
	Docker string
}

// CredentialStore holds registry logins where helm and docker keep theirs: chartroom login
// writes to helm's registry config (so `helm pull` and `helm push` use the login), and
// lookups fall back to docker's config.json (so `docker login` works for chartroom too),
// both with their credential helpers — the same stores, in the same order, as helm's.
type CredentialStore struct {
	helm       credentials.Store
	docker     credentials.Store // nil when docker's config cannot be read
	helmPath   string
	dockerPath string
}

// storeOptions are helm's: plain-text in the config file unless a credential helper is
// configured or detected.
var storeOptions = credentials.StoreOptions{AllowPlaintextPut: true, DetectDefaultNativeStore: true}

// NewCredentialStore opens the credential files (missing files are empty stores). A
// malformed helm registry config is an error; a docker config that cannot be read is
// skipped, as helm skips it.
func NewCredentialStore(p CredentialPaths) (*CredentialStore, error) {
	if p.Helm == "" {
		p.Helm = DefaultHelmRegistryConfig()
	}
	if p.Docker == "" {
		p.Docker = DefaultDockerConfig()
	}
	hs, err := credentials.NewStore(p.Helm, storeOptions)
	if err != nil {
		return nil, fmt.Errorf("read registry logins from %s: %w; fix or remove the file", p.Helm, err)
	}
	s := &CredentialStore{helm: hs, helmPath: p.Helm, dockerPath: p.Docker}
	if p.Docker != p.Helm {
		if ds, err := credentials.NewStore(p.Docker, storeOptions); err == nil {
			s.docker = ds
		}
	}
	return s, nil
}

// HelmPath is the helm registry config logins are written to.
func (s *CredentialStore) HelmPath() string { return s.helmPath }

// DockerPath is docker's config.json, read as a fallback.
func (s *CredentialStore) DockerPath() string { return s.dockerPath }

// Get returns the stored login for host ("host" or "host:port") and the file it came
// from; an empty credential and "" when there is none.
func (s *CredentialStore) Get(ctx context.Context, host string) (auth.Credential, string, error) {
	key := credentials.ServerAddressFromHostname(host)
	if key == "" {
		return auth.EmptyCredential, "", nil
	}
	cred, err := s.helm.Get(ctx, key)
	if err != nil {
		return auth.EmptyCredential, "", fmt.Errorf("read the login for %s from %s: %w", host, s.helmPath, err)
	}
	if cred != auth.EmptyCredential {
		return cred, s.helmPath, nil
	}
	if s.docker == nil {
		return auth.EmptyCredential, "", nil
	}
	cred, err = s.docker.Get(ctx, key)
	if err != nil {
		return auth.EmptyCredential, "", fmt.Errorf("read the login for %s from %s: %w", host, s.dockerPath, err)
	}
	if cred != auth.EmptyCredential {
		return cred, s.dockerPath, nil
	}
	return auth.EmptyCredential, "", nil
}

// Put stores a login for host in helm's registry config.
func (s *CredentialStore) Put(ctx context.Context, host string, cred auth.Credential) error {
	key := credentials.ServerAddressFromRegistry(host)
	if err := s.helm.Put(ctx, key, cred); err != nil {
		return fmt.Errorf("store the login for %s in %s: %w", host, s.helmPath, err)
	}
	return nil
}

// Delete removes host's login from helm's registry config. It reports whether there was
// one there, and whether docker's config still holds one (which chartroom does not touch:
// `docker logout` removes it).
func (s *CredentialStore) Delete(ctx context.Context, host string) (deleted, inDocker bool, err error) {
	key := credentials.ServerAddressFromRegistry(host)
	cred, err := s.helm.Get(ctx, key)
	if err != nil {
		return false, false, fmt.Errorf("read the login for %s from %s: %w", host, s.helmPath, err)
	}
	if cred != auth.EmptyCredential {
		if err := s.helm.Delete(ctx, key); err != nil {
			return false, false, fmt.Errorf("remove the login for %s from %s: %w", host, s.helmPath, err)
		}
		deleted = true
	}
	if s.docker != nil {
		if dc, err := s.docker.Get(ctx, key); err == nil && dc != auth.EmptyCredential {
			inDocker = true
		}
	}
	return deleted, inDocker, nil
}
