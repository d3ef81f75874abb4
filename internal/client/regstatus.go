package client

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
)

// RegistryStatus is what a chartroom registry records of a chart version: the status of its
// signatures, checked by the registry against the keys its namespace trusts, whether its
// signed-only namespace quarantines it, and what its semver discipline found. Other
// registries record none of it.
type RegistryStatus struct {
	Signatures struct {
		Prov   SignatureStatus `json:"prov"`
		Cosign SignatureStatus `json:"cosign"`
	} `json:"signatures"`
	Quarantined    bool   `json:"quarantined,omitempty"`
	ReleaseFinding string `json:"releaseFinding,omitempty"`
}

// SignatureStatus is one kind of signature's status on a chartroom registry.
type SignatureStatus struct {
	// Status is unsigned, valid, invalid or unverified.
	Status string `json:"status"`
	Signer string `json:"signer,omitempty"`
	Error  string `json:"error,omitempty"`
}

// maxStatusAnswer bounds the API answer read for a version's status.
const maxStatusAnswer = 1 << 20

// RegistryStatus asks the registry of ref for what it records of chart name version (GET
// /api/<namespace>/charts/<name>/<version>, chartroom's classic API, on the host of an
// oci:// reference too). It returns nil, without error, when the registry is not a
// chartroom registry or does not answer: the status is information, never a reason to fail.
func (c *Client) RegistryStatus(ctx context.Context, ref ChartRef, name, version string) *RegistryStatus {
	loc := ref.loc
	if ref.URL != "" || name == "" || version == "" {
		return nil
	}
	if loc.oci {
		scheme := "https"
		if c.opts.PlainHTTP {
			scheme = "http"
		}
		loc.base = &url.URL{Scheme: scheme, Host: loc.host}
	}
	if loc.base == nil {
		return nil
	}
	u := *loc.base
	u.Path = "/api/" + loc.path + "/charts/" + name + "/" + version
	if loc.path == "" {
		u.Path = "/api/charts/" + name + "/" + version
	}
	u.RawPath = ""
	return c.statusAt(ctx, loc, u.String())
}

func (c *Client) statusAt(ctx context.Context, loc location, u string) *RegistryStatus {
	resp, err := c.get(ctx, loc, u)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusAnswer))
	var has struct {
		Signatures json.RawMessage `json:"signatures"`
	}
	if err != nil || json.Unmarshal(data, &has) != nil || has.Signatures == nil {
		return nil // not a chartroom registry
	}
	var out RegistryStatus
	if json.Unmarshal(data, &out) != nil {
		return nil
	}
	return &out
}
