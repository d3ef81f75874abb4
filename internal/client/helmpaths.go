package client

import (
	"os"
	"path/filepath"
	"runtime"
)

// helmConfigPath returns a file under helm's configuration directory the way helm's
// helmpath package finds it: $HELM_CONFIG_HOME, else $XDG_CONFIG_HOME/helm, else the
// platform default (~/.config/helm on Linux, ~/Library/Preferences/helm on macOS,
// %APPDATA%\helm on Windows).
func helmConfigPath(elem ...string) string {
	if base := os.Getenv("HELM_CONFIG_HOME"); base != "" {
		return filepath.Join(append([]string{base}, elem...)...)
	}
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		switch runtime.GOOS {
		case "darwin":
			base = filepath.Join(home, "Library", "Preferences")
		case "windows":
			base = os.Getenv("APPDATA")
		default:
			base = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(append([]string{base, "helm"}, elem...)...)
}

// DefaultHelmRegistryConfig is where helm keeps registry logins and where chartroom login
// writes: $HELM_REGISTRY_CONFIG, else registry/config.json under helm's configuration
// directory.
func DefaultHelmRegistryConfig() string {
	if p := os.Getenv("HELM_REGISTRY_CONFIG"); p != "" {
		return p
	}
	return helmConfigPath("registry", "config.json")
}

// DefaultDockerConfig is docker's config.json: $DOCKER_CONFIG/config.json, else
// ~/.docker/config.json.
func DefaultDockerConfig() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

// DefaultHelmRepositoryConfig is helm's list of repositories added with `helm repo add`:
// $HELM_REPOSITORY_CONFIG, else repositories.yaml under helm's configuration directory.
func DefaultHelmRepositoryConfig() string {
	if p := os.Getenv("HELM_REPOSITORY_CONFIG"); p != "" {
		return p
	}
	return helmConfigPath("repositories.yaml")
}
