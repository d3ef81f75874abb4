// Package client talks to chart registries for the release toolchain: it pushes chart
// archives, pulls them, resolves dependency constraints into a Chart.lock and fetches the
// locked versions, over both transports chartroom serves.
//
//   - OCI (oci://HOST/NAMESPACE): OCI Distribution v1.1 through oras-go, building exactly the
//     manifest `helm push` builds (config = Chart.yaml as JSON, layers sorted by digest,
//     helm's annotations, created = the archive file's modification time), so a chart pushed
//     by chartroom and one pushed by helm are indistinguishable.
//   - The classic chart repository (https://HOST/NAMESPACE): index.yaml, archives and .prov
//     files, and the ChartMuseum-compatible upload API (POST /api/NAMESPACE/charts).
//
// Credentials are shared with helm and docker: logins are written to helm's registry
// config ($HELM_REGISTRY_CONFIG, default ~/.config/helm/registry/config.json, docker's
// config.json format), and read from there and from docker's config.json
// ($DOCKER_CONFIG/config.json, default ~/.docker/config.json), credential helpers included.
// Explicit credentials ([Options.Username], [Options.Password]) beat stored ones; for a
// classic repository, the credentials helm repo add stored for exactly its URL beat the
// host's login. A stored login is never sent in clear text to an http:// repository on
// another machine unless [Options.SendCredentialsOverHTTP] says so.
//
// Redirects keep Authorization only on the origin (scheme, host, port) it was sent to, and
// a redirect from https to http is refused.
//
// Every error a registry answers is an [*Error] whose text is one line saying what went
// wrong and what to do; its Kind is one of [ErrUnauthorized], [ErrForbidden],
// [ErrConflict], [ErrNotFound], [ErrUnreachable] or nil. Downloads are written atomically:
// a failed or interrupted pull leaves no partial archive behind.
package client
