package registry

import "errors"

// Domain errors, all declared in this file. Callers match them with errors.Is; the wrapped
// message says what was wrong and what to do. Each protocol maps every one of them to its
// status codes in one place (a test walks this file to make sure none is answered with 500).
var (
	// ErrNameInvalid: the repository name breaks the OCI name grammar.
	ErrNameInvalid = errors.New("invalid repository name")
	// ErrNameUnknown: the repository does not exist.
	ErrNameUnknown = errors.New("repository not found")
	// ErrBlobUnknown: the blob is not in the repository.
	ErrBlobUnknown = errors.New("blob unknown to registry")
	// ErrUploadUnknown: the upload session does not exist or belongs to another repository.
	ErrUploadUnknown = errors.New("blob upload unknown to registry")
	// ErrRangeInvalid: a chunk's Content-Range does not continue the upload.
	ErrRangeInvalid = errors.New("requested range not satisfiable")
	// ErrDigestInvalid: the digest is malformed, of an unsupported algorithm, or does not match the content.
	ErrDigestInvalid = errors.New("provided digest did not match uploaded content")
	// ErrSizeInvalid: the content length does not match what was announced.
	ErrSizeInvalid = errors.New("provided length did not match content length")
	// ErrManifestInvalid: the manifest is malformed or breaks a rule (charts included).
	ErrManifestInvalid = errors.New("manifest invalid")
	// ErrManifestUnknown: no manifest under that tag or digest.
	ErrManifestUnknown = errors.New("manifest unknown")
	// ErrManifestBlobUnknown: the manifest references blobs or manifests the repository lacks.
	ErrManifestBlobUnknown = errors.New("manifest references unknown content")
	// ErrTagInvalid: the tag breaks the OCI tag grammar.
	ErrTagInvalid = errors.New("invalid tag")
	// ErrTooLarge: the body exceeds a configured limit.
	ErrTooLarge = errors.New("content too large")
	// ErrImmutable: a published chart version or immutable tag would change. Publish a new version instead.
	ErrImmutable = errors.New("published content is immutable")
	// ErrVersionExists: the chart version is already published with the very same bytes and
	// the caller asked to be told (PublishChartRequest.RefuseExisting).
	ErrVersionExists = errors.New("chart version already exists")
	// ErrTooManyUploads: the user has as many upload sessions open as allowed.
	ErrTooManyUploads = errors.New("too many upload sessions open")
)

// Chart errors.
var (
	// ErrChartInvalid: a chart archive or its provenance file is refused at the door
	// (not gzip/tar, unsafe paths, bad Chart.yaml, .prov for another archive, …).
	ErrChartInvalid = errors.New("invalid chart")
	// ErrChartUnknown: no such chart version is published (it may have been deleted).
	ErrChartUnknown = errors.New("chart version not found")
	// ErrBumpTooSmall: the namespace's semver discipline (enforce) refuses a version whose
	// bump over the highest version published below it is smaller than its changes require;
	// the message names the changes and the smallest acceptable version.
	ErrBumpTooSmall = errors.New("version bump too small for the change")
	// ErrMetadataUnknown: the namespace has no Artifact Hub repository metadata (set with
	// chartroom namespace set).
	ErrMetadataUnknown = errors.New("repository metadata not found")
)

// Proxy namespace errors.
var (
	// ErrProxyNamespace: the namespace is a pull-through proxy of an upstream (chartroom
	// proxy add): its content comes from the upstream only; users do not push or delete there.
	ErrProxyNamespace = errors.New("namespace is a read-only proxy of an upstream")
	// ErrUpstream: the upstream of a proxy namespace could not be read, or served bytes that
	// do not match its own listing; the version is not stored.
	ErrUpstream = errors.New("the upstream of a proxy namespace failed")
)

// reasons names each domain error for logs: a short, stable, machine-friendly phrase both
// protocols log as a request's reason. Reason tries them in this order, so an error wrapping
// several gets the first (a manifest over the size limit wraps ErrTooLarge and
// ErrManifestInvalid: too_large).
var reasons = []struct {
	err    error
	reason string
}{
	{ErrVersionExists, "version_exists"},
	{ErrImmutable, "immutable"},
	{ErrBumpTooSmall, "bump_too_small"},
	{ErrTooLarge, "too_large"},
	{ErrTooManyUploads, "too_many_uploads"},
	{ErrNameInvalid, "name_invalid"},
	{ErrNameUnknown, "name_unknown"},
	{ErrBlobUnknown, "blob_unknown"},
	{ErrUploadUnknown, "upload_unknown"},
	{ErrRangeInvalid, "range_invalid"},
	{ErrDigestInvalid, "digest_invalid"},
	{ErrSizeInvalid, "size_invalid"},
	{ErrManifestBlobUnknown, "manifest_blob_unknown"},
	{ErrChartInvalid, "chart_invalid"},
	{ErrManifestInvalid, "manifest_invalid"},
	{ErrManifestUnknown, "manifest_unknown"},
	{ErrChartUnknown, "chart_unknown"},
	{ErrMetadataUnknown, "metadata_unknown"},
	{ErrTagInvalid, "tag_invalid"},
	{ErrProxyNamespace, "proxy_namespace"},
	{ErrUpstream, "upstream_failed"},
}

// Reason returns the short name of the domain error err wraps, as logs give it
// ("version_exists", "name_invalid", …); "" when err wraps none.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ""
}
