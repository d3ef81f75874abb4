// Package webhook sends the webhook deliveries chartroom queues: each event of a namespace
// (a chart published or deleted, an artifact pushed) as a signed JSON POST to the URLs an
// admin registered for it (chartroom webhook add). The events and their queue are stored by
// meta, in the transaction of each change; a Sender claims due deliveries from that queue,
// sends them one at a time per webhook, in order, and records each outcome, retrying with
// backoff.
//
// Deliveries are at least once: a delivery answered 2xx is recorded before the next one of
// its webhook goes out and is never sent again, but a crash between the answer and the
// record sends it again after the restart. Each carries its event's unique id
// (X-Chartroom-Event-Id and "id") for receivers to de-duplicate by.
package webhook

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/chartroom/chartroom/internal/meta"
)

// Payload is the JSON body of a delivery.
type Payload struct {
	// ID is unique per event; a delivery sent again (after a crash, or redelivered) has the
	// same ID: receivers de-duplicate by it.
	ID string `json:"id"`
	// Type is chart.published, chart.deleted or artifact.pushed.
	Type string `json:"type"`
	// Time is when the change was committed (UTC).
	Time       time.Time `json:"time"`
	Namespace  string    `json:"namespace"` // "" for the root namespace
	Repository string    `json:"repository"`
	// Actor is the user who made the change ("" when unknown).
	Actor    string   `json:"actor"`
	Artifact Artifact `json:"artifact"`
	// Chart is set for events of a chart version (every chart.* event, and artifact.pushed
	// of a chart).
	Chart *Chart `json:"chart,omitempty"`
}

// Artifact is the manifest an event is about.
type Artifact struct {
	Digest       string   `json:"digest"`
	MediaType    string   `json:"mediaType"`
	ArtifactType string   `json:"artifactType,omitempty"`
	Tags         []string `json:"tags"`
	// Reference pulls exactly this manifest: HOST/REPOSITORY@DIGEST (oras pull, crane pull).
	Reference string `json:"reference"`
}

// Chart is the chart version an event is about.
type Chart struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion,omitempty"`
	// Digest is the archive's sha256, as index.yaml lists it.
	Digest     string `json:"digest"`
	ProvDigest string `json:"provDigest,omitempty"`
	// OCI is the chart for helm over OCI: helm pull oci://HOST/NAMESPACE/NAME --version VERSION.
	OCI string `json:"oci"`
	// URL is the archive in the namespace's classic chart repository.
	URL string `json:"url"`
}

// NewPayload is the body of ev's deliveries, with URLs on base (the server's external URL,
// e.g. https://charts.example.com).
func NewPayload(ev meta.Event, base string) Payload {
	base = strings.TrimRight(base, "/")
	host := base
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		host = u.Host
	}
	p := Payload{
		ID: ev.ID, Type: ev.Type, Time: ev.Time.UTC(), Namespace: ev.Namespace, Repository: ev.Repository, Actor: ev.Actor,
		Artifact: Artifact{
			Digest: ev.Digest.String(), MediaType: ev.MediaType, ArtifactType: ev.ArtifactType,
			Tags:      append([]string{}, ev.Tags...),
			Reference: host + "/" + ev.Repository + "@" + ev.Digest.String(),
		},
	}
	if c := ev.Chart; c != nil {
		prefix := base + "/"
		if ev.Namespace != "" {
			prefix += ev.Namespace + "/"
		}
		p.Chart = &Chart{
			Name: c.Name, Version: c.Version, AppVersion: c.AppVersion, Digest: c.Digest.String(), ProvDigest: c.ProvDigest.String(),
			OCI: "oci://" + host + "/" + ev.Repository,
			URL: prefix + "charts/" + url.PathEscape(c.Name+"-"+c.Version+".tgz"),
		}
	}
	return p
}

// Marshal is p as sent.
func (p Payload) Marshal() ([]byte, error) {
	return json.Marshal(p)
}
