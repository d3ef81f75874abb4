package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKube is a minimal Kubernetes API server in the test process. It stands in for the
// cluster these tests cannot run (no Docker, no kube-apiserver binaries here or in CI) so that
// the real helm can `helm install` and `helm uninstall` ordinary charts for real, not as a dry
// run, and the tests can assert what helm sent. It is deliberately small and honest about it:
//
//   - /version; discovery of the core kinds charts use (kubeResources), both the aggregated
//     form (apidiscovery.k8s.io/v2, when the client asks for it in Accept, as a 1.30+ server
//     answers) and the legacy /api, /api/v1, /apis, /apis/<group>/<version>;
//   - get, list (labelSelector equality forms: k=v, k==v, k!=v, k, !k), create, update (PUT),
//     patch (server-side apply and JSON merge patch) and delete of objects kept in memory,
//     namespaced objects only in a namespace that exists (default, kube-system, kube-public);
//   - bodies in JSON, and in protobuf for Secrets only (helm's release storage writes them
//     through client-go's typed client, which sends protobuf; kubeapi_proto_test.go);
//   - /openapi/v3: just enough for kubectl's validation inside helm to learn that the server
//     takes the fieldValidation parameter, so it does not download schemas to validate;
//   - dryRun=All is honoured (nothing is stored); errors are metav1.Status objects with the
//     reason and code a real server gives (NotFound, AlreadyExists, Conflict, …).
//
// It does not run controllers (a Deployment never gets Pods or a status), does not watch,
// does not validate objects (it holds no schemas, though it says it validates), and
// approximates server-side apply with a single field manager (the applied object is merged
// over the stored one). Anything else is answered 404 or 405 as a Status, and recorded in unknown so that a
// test can show what a newer helm started asking for.
type fakeKube struct {
	t     testing.TB
	srv   *httptest.Server
	token string
	// Legacy makes discovery answer only the legacy form, as a server older than 1.26 does.
	Legacy bool

	mu      sync.Mutex
	rv      int
	objects map[string]map[string]any // objectKey → object
	events  []string                  // "create apps/v1 deployments default/rel-demo", …
	served  map[string]int            // "GET /api/v1/namespaces/{ns}/secrets" → count
	unknown []string                  // requests answered 404/405 for lack of support
}

// kubeResource is one kind the fake server knows.
type kubeResource struct {
	group, version, kind, resource string
	namespaced                     bool
}

func (r kubeResource) groupVersion() string {
	if r.group == "" {
		return r.version
	}
	return r.group + "/" + r.version
}

// kubeResources are the kinds ordinary charts create (and helm's release Secrets).
var kubeResources = []kubeResource{
	{"", "v1", "ConfigMap", "configmaps", true},
	{"", "v1", "Secret", "secrets", true},
	{"", "v1", "Service", "services", true},
	{"", "v1", "ServiceAccount", "serviceaccounts", true},
	{"", "v1", "Pod", "pods", true},
	{"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true},
	{"", "v1", "Namespace", "namespaces", false},
	{"apps", "v1", "Deployment", "deployments", true},
	{"apps", "v1", "StatefulSet", "statefulsets", true},
	{"apps", "v1", "DaemonSet", "daemonsets", true},
	{"batch", "v1", "Job", "jobs", true},
	{"batch", "v1", "CronJob", "cronjobs", true},
	{"networking.k8s.io", "v1", "Ingress", "ingresses", true},
	{"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true},
	{"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true},
	{"rbac.authorization.k8s.io", "v1", "Role", "roles", true},
	{"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true},
	{"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false},
	{"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false},
}

var kubeVerbs = []string{"create", "delete", "get", "list", "patch", "update"}

// newFakeKube starts a fake API server over TLS with a bearer token.
func newFakeKube(t testing.TB) *fakeKube {
	k := &fakeKube{t: t, token: randomHex(16), objects: map[string]map[string]any{}, served: map[string]int{}}
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		k.objects[objectKey("", "namespaces", "", ns)] = k.stamp(map[string]any{
			"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
			"status": map[string]any{"phase": "Active"},
		}, nil)
	}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(func() {
		k.srv.Close()
		if t.Failed() {
			t.Logf("fake Kubernetes API: requests served %v; unsupported %v", k.Served(), k.Unknown())
		}
	})
	return k
}

// Kubeconfig writes a kubeconfig for the server (its CA, a bearer token, namespace default)
// into dir and returns its path.
func (k *fakeKube) Kubeconfig(dir string) string {
	k.t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: e2e
  user:
    token: %s
contexts:
- name: fake
  context: {cluster: fake, user: e2e, namespace: default}
current-context: fake
`, k.srv.URL, b64(ca), k.token)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// Use points the tool environment's KUBECONFIG at this server.
func (k *fakeKube) Use(e *toolEnv) {
	e.env = append(e.env, "KUBECONFIG="+k.Kubeconfig(e.home))
}

// Object is a stored object (nil when there is none), e.g. Object("apps", "deployments",
// "default", "rel-demo").
func (k *fakeKube) Object(group, resource, ns, name string) map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	return deepCopyJSON(k.objects[objectKey(group, resource, ns, name)])
}

// Image is the image of the first container of Deployment name in ns ("" when there is none).
func (k *fakeKube) Image(ns, name string) string {
	d := k.Object("apps", "deployments", ns, name)
	spec, _ := d["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	cs, _ := pod["containers"].([]any)
	if len(cs) == 0 {
		return ""
	}
	img, _ := cs[0].(map[string]any)["image"].(string)
	return img
}

// helmRelease is what helm's release storage keeps, as far as the tests look.
type helmRelease struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Version   int    `json:"version"`
	Info      struct {
		Status string `json:"status"`
	} `json:"info"`
	Chart struct {
		Metadata struct {
			Name, Version, AppVersion string
		} `json:"metadata"`
	} `json:"chart"`
	Manifest string `json:"manifest"`
}

// Release decodes helm's release Secret sh.helm.release.v1.<name>.v<revision> in ns (its
// data.release is base64 of gzipped JSON), with the Secret's labels; ok is false when there
// is no such Secret.
func (k *fakeKube) Release(ns, name string, revision int) (rel helmRelease, labels map[string]any, ok bool) {
	k.t.Helper()
	s := k.Object("", "secrets", ns, fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, revision))
	if s == nil {
		return rel, nil, false
	}
	labels, _ = s["metadata"].(map[string]any)["labels"].(map[string]any)
	data, _ := s["data"].(map[string]any)
	enc, _ := data["release"].(string)
	once, err := base64.StdEncoding.DecodeString(enc)
	var gz []byte
	if err == nil {
		gz, err = base64.StdEncoding.DecodeString(string(once))
	}
	var zr *gzip.Reader
	if err == nil {
		zr, err = gzip.NewReader(bytes.NewReader(gz))
	}
	if err == nil {
		err = json.NewDecoder(zr).Decode(&rel)
	}
	if err != nil {
		k.t.Fatalf("release Secret of %s/%s v%d: %v", ns, name, revision, err)
	}
	return rel, labels, true
}

// Events lists the changes made, in order: "create apps/v1 deployments default/rel-demo".
func (k *fakeKube) Events() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.events)
}

// Served counts the requests answered, by method and path pattern.
func (k *fakeKube) Served() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]int{}
	for p, n := range k.served {
		out[p] = n
	}
	return out
}

// Unknown lists the requests the server does not support.
func (k *fakeKube) Unknown() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.unknown)
}

func objectKey(group, resource, ns, name string) string {
	return group + "/" + resource + "/" + ns + "/" + name
}

// kubeStatus is a metav1.Status.
func kubeStatus(code int, reason, msg string, details map[string]any) map[string]any {
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code}
	if code < 300 {
		st["status"] = "Success"
		delete(st, "reason")
	}
	if details != nil {
		st["details"] = details
	}
	return st
}

func writeKubeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (k *fakeKube) fail(w http.ResponseWriter, code int, reason, msg string, details map[string]any) {
	writeKubeJSON(w, code, kubeStatus(code, reason, msg, details))
}

func (k *fakeKube) count(r *http.Request, pattern string) {
	k.mu.Lock()
	k.served[r.Method+" "+pattern]++
	k.mu.Unlock()
}

func (k *fakeKube) unsupported(w http.ResponseWriter, r *http.Request, code int, why string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unsupportedLocked(w, r, code, why)
}

// unsupportedLocked is unsupported with k.mu held.
func (k *fakeKube) unsupportedLocked(w http.ResponseWriter, r *http.Request, code int, why string) {
	k.unknown = append(k.unknown, r.Method+" "+r.URL.RequestURI()+" ("+why+")")
	k.t.Logf("fake Kubernetes API: unsupported %s %s: %s", r.Method, r.URL.RequestURI(), why)
	reason := "NotFound"
	if code == http.StatusMethodNotAllowed {
		reason = "MethodNotAllowed"
	} else if code == http.StatusUnsupportedMediaType {
		reason = "UnsupportedMediaType"
	}
	k.fail(w, code, reason, why+" (this fake API server does not support it)", nil)
}

func (k *fakeKube) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		k.fail(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized", nil)
		return
	}
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	switch {
	case r.Method != http.MethodGet && (p == "version" || p == "api" || p == "apis"):
		k.unsupported(w, r, http.StatusMethodNotAllowed, "method not allowed")
	case p == "version":
		k.count(r, "/version")
		writeKubeJSON(w, http.StatusOK, map[string]any{"major": "1", "minor": "33", "gitVersion": "v1.33.0",
			"gitCommit": "fake", "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z",
			"goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"})
	case p == "api" || p == "apis":
		k.discovery(w, r, p)
	case r.Method == http.MethodGet && (p == "openapi/v3" || strings.HasPrefix(p, "openapi/v3/")):
		k.openAPIV3(w, r, strings.TrimPrefix(strings.TrimPrefix(p, "openapi/v3"), "/"))
	case parts[0] == "api" && len(parts) >= 2:
		k.resourcePath(w, r, "", parts[1], parts[2:])
	case parts[0] == "apis" && len(parts) >= 3:
		k.resourcePath(w, r, parts[1], parts[2], parts[3:])
	default:
		k.unsupported(w, r, http.StatusNotFound, "the path is not served")
	}
}

// aggregatedDiscovery is the Accept/Content-Type of the aggregated discovery document.
const aggregatedDiscovery = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether Accept lists apidiscovery.k8s.io v2 (client-go asks for it
// first and falls back to the legacy document on a plain application/json answer).
func wantsAggregated(accept string) bool {
	for _, a := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(a))
		if err == nil && mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

// groups is the API groups in discovery order: core first, then the others as listed.
func groups() []string {
	var gs []string
	for _, r := range kubeResources {
		if !slices.Contains(gs, r.group) {
			gs = append(gs, r.group)
		}
	}
	return gs
}

// groupVersions is a group's versions (one each here).
func groupVersions(group string) []string {
	var vs []string
	for _, r := range kubeResources {
		if r.group == group && !slices.Contains(vs, r.version) {
			vs = append(vs, r.version)
		}
	}
	return vs
}

func (k *fakeKube) discovery(w http.ResponseWriter, r *http.Request, p string) {
	core := p == "api"
	if !k.Legacy && wantsAggregated(r.Header.Get("Accept")) {
		k.count(r, "/"+p+" (aggregated)")
		var items []any
		for _, g := range groups() {
			if (g == "") != core {
				continue
			}
			var versions []any
			for _, v := range groupVersions(g) {
				var res []any
				for _, kr := range kubeResources {
					if kr.group == g && kr.version == v {
						scope := "Cluster"
						if kr.namespaced {
							scope = "Namespaced"
						}
						res = append(res, map[string]any{"resource": kr.resource, "singularResource": strings.ToLower(kr.kind),
							"scope": scope, "verbs": kubeVerbs,
							"responseKind": map[string]any{"group": g, "version": v, "kind": kr.kind}})
					}
				}
				versions = append(versions, map[string]any{"version": v, "resources": res, "freshness": "Current"})
			}
			items = append(items, map[string]any{"metadata": map[string]any{"name": g, "creationTimestamp": nil}, "versions": versions})
		}
		w.Header().Set("Content-Type", aggregatedDiscovery)
		json.NewEncoder(w).Encode(map[string]any{"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
			"metadata": map[string]any{}, "items": items})
		return
	}
	k.count(r, "/"+p+" (legacy)")
	if core {
		writeKubeJSON(w, http.StatusOK, map[string]any{"kind": "APIVersions", "versions": groupVersions(""),
			"serverAddressByClientCIDRs": []any{map[string]any{"clientCIDR": "0.0.0.0/0", "serverAddress": r.Host}}})
		return
	}
	var list []any
	for _, g := range groups() {
		if g == "" {
			continue
		}
		var versions []any
		for _, v := range groupVersions(g) {
			versions = append(versions, map[string]any{"groupVersion": g + "/" + v, "version": v})
		}
		list = append(list, map[string]any{"name": g, "versions": versions, "preferredVersion": versions[0]})
	}
	writeKubeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

// openAPIV3 serves the OpenAPI v3 discovery root and, per group version, a document that
// declares the PATCH operations and their fieldValidation query parameter and nothing else:
// that is what kubectl's validation (inside helm) asks to learn that the server validates
// objects itself, instead of downloading every schema to validate them on the client. The
// server does not validate; it holds no schemas.
func (k *fakeKube) openAPIV3(w http.ResponseWriter, r *http.Request, gvPath string) {
	var gvs []kubeResource
	for _, kr := range kubeResources {
		if !slices.ContainsFunc(gvs, func(o kubeResource) bool { return o.groupVersion() == kr.groupVersion() }) {
			gvs = append(gvs, kr)
		}
	}
	apiPath := func(kr kubeResource) string {
		if kr.group == "" {
			return "api/" + kr.version
		}
		return "apis/" + kr.group + "/" + kr.version
	}
	if gvPath == "" {
		k.count(r, "/openapi/v3")
		paths := map[string]any{}
		for _, kr := range gvs {
			paths[apiPath(kr)] = map[string]any{"serverRelativeURL": "/openapi/v3/" + apiPath(kr) + "?hash=" + strings.ToUpper(fmt.Sprintf("%x", len(apiPath(kr))))}
		}
		writeKubeJSON(w, http.StatusOK, map[string]any{"paths": paths})
		return
	}
	paths := map[string]any{}
	for _, kr := range kubeResources {
		if apiPath(kr) != gvPath {
			continue
		}
		p := "/" + apiPath(kr) + "/"
		if kr.namespaced {
			p += "namespaces/{namespace}/"
		}
		paths[p+kr.resource+"/{name}"] = map[string]any{"patch": map[string]any{
			"x-kubernetes-group-version-kind": map[string]any{"group": kr.group, "version": kr.version, "kind": kr.kind},
			"parameters":                      []any{map[string]any{"name": "fieldValidation", "in": "query", "schema": map[string]any{"type": "string"}}},
			"responses":                       map[string]any{"200": map[string]any{"description": "OK"}},
		}}
	}
	if len(paths) == 0 {
		k.unsupported(w, r, http.StatusNotFound, "no such group version")
		return
	}
	k.count(r, "/openapi/v3/{group version}")
	writeKubeJSON(w, http.StatusOK, map[string]any{"openapi": "3.0.0",
		"info": map[string]any{"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": map[string]any{}})
}

// resourceList is the legacy discovery document of one group version.
func (k *fakeKube) resourceList(w http.ResponseWriter, r *http.Request, group, version string) {
	var res []any
	for _, kr := range kubeResources {
		if kr.group == group && kr.version == version {
			res = append(res, map[string]any{"name": kr.resource, "singularName": strings.ToLower(kr.kind),
				"namespaced": kr.namespaced, "kind": kr.kind, "verbs": kubeVerbs})
		}
	}
	if res == nil {
		k.unsupported(w, r, http.StatusNotFound, "no such group version")
		return
	}
	gv := kubeResource{group: group, version: version}.groupVersion()
	if group == "" {
		k.count(r, "/api/"+version)
	} else {
		k.count(r, "/apis/{group}/{version}")
	}
	writeKubeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res})
}

// resourcePath serves /api/v1/… and /apis/<group>/<version>/…: rest is what follows.
func (k *fakeKube) resourcePath(w http.ResponseWriter, r *http.Request, group, version string, rest []string) {
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			k.unsupported(w, r, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		k.resourceList(w, r, group, version)
		return
	}
	ns := ""
	if len(rest) >= 3 && rest[0] == "namespaces" {
		ns, rest = rest[1], rest[2:]
	}
	if len(rest) > 2 {
		k.unsupported(w, r, http.StatusNotFound, "subresources are not served")
		return
	}
	var res *kubeResource
	for i, kr := range kubeResources {
		if kr.group == group && kr.version == version && kr.resource == rest[0] {
			res = &kubeResources[i]
		}
	}
	if res == nil || res.namespaced != (ns != "") {
		k.unsupported(w, r, http.StatusNotFound, "no such resource")
		return
	}
	name := ""
	if len(rest) == 2 {
		name = rest[1]
	}
	pattern := "/api/" + res.groupVersion() + "/"
	if res.group != "" {
		pattern = "/apis/" + res.groupVersion() + "/"
	}
	if ns != "" {
		pattern += "namespaces/{ns}/"
	}
	pattern += res.resource
	if name != "" {
		pattern += "/{name}"
	}
	if r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		k.unsupported(w, r, http.StatusMethodNotAllowed, "watch is not served")
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if ns != "" && k.objects[objectKey("", "namespaces", "", ns)] == nil {
		k.fail(w, http.StatusNotFound, "NotFound", fmt.Sprintf("namespaces %q not found", ns),
			map[string]any{"name": ns, "kind": "namespaces"})
		return
	}
	switch {
	case r.Method == http.MethodGet && name == "":
		k.list(w, r, res, ns)
	case r.Method == http.MethodGet:
		k.get(w, res, ns, name)
	case r.Method == http.MethodPost && name == "":
		k.create(w, r, res, ns)
	case r.Method == http.MethodPut && name != "":
		k.update(w, r, res, ns, name)
	case r.Method == http.MethodPatch && name != "":
		k.patch(w, r, res, ns, name)
	case r.Method == http.MethodDelete && name != "":
		k.delete(w, r, res, ns, name)
	default:
		k.unsupportedLocked(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	k.served[r.Method+" "+pattern]++
}

func (k *fakeKube) notFound(w http.ResponseWriter, res *kubeResource, name string) {
	k.fail(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s %q not found", res.resource, name),
		map[string]any{"name": name, "group": res.group, "kind": res.resource})
}

func (k *fakeKube) get(w http.ResponseWriter, res *kubeResource, ns, name string) {
	obj := k.objects[objectKey(res.group, res.resource, ns, name)]
	if obj == nil {
		k.notFound(w, res, name)
		return
	}
	writeKubeJSON(w, http.StatusOK, obj)
}

func (k *fakeKube) list(w http.ResponseWriter, r *http.Request, res *kubeResource, ns string) {
	match, err := parseLabelSelector(r.URL.Query().Get("labelSelector"))
	if err != nil {
		k.fail(w, http.StatusBadRequest, "BadRequest", err.Error(), nil)
		return
	}
	prefix := objectKey(res.group, res.resource, ns, "")
	var keys []string
	for key := range k.objects {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	items := []any{}
	for _, key := range keys {
		obj := k.objects[key]
		labels, _ := obj["metadata"].(map[string]any)["labels"].(map[string]any)
		if match(labels) {
			items = append(items, obj)
		}
	}
	writeKubeJSON(w, http.StatusOK, map[string]any{"kind": res.kind + "List", "apiVersion": res.groupVersion(),
		"metadata": map[string]any{"resourceVersion": strconv.Itoa(k.rv)}, "items": items})
}

// parseLabelSelector parses the equality-based selectors (k=v, k==v, k!=v, k, !k, joined by
// commas); set-based ones (in, notin) are refused.
func parseLabelSelector(sel string) (func(map[string]any) bool, error) {
	type term struct {
		key, op, value string
	}
	var terms []term
	for _, part := range strings.Split(sel, ",") {
		part = strings.TrimSpace(part)
		switch {
		case part == "":
		case strings.Contains(part, "!="):
			kv := strings.SplitN(part, "!=", 2)
			terms = append(terms, term{strings.TrimSpace(kv[0]), "!=", strings.TrimSpace(kv[1])})
		case strings.Contains(part, "=="):
			kv := strings.SplitN(part, "==", 2)
			terms = append(terms, term{strings.TrimSpace(kv[0]), "=", strings.TrimSpace(kv[1])})
		case strings.Contains(part, "="):
			kv := strings.SplitN(part, "=", 2)
			terms = append(terms, term{strings.TrimSpace(kv[0]), "=", strings.TrimSpace(kv[1])})
		case strings.ContainsAny(part, " ()"):
			return nil, fmt.Errorf("unable to parse requirement %q: only equality-based label selectors are served here", part)
		case strings.HasPrefix(part, "!"):
			terms = append(terms, term{key: part[1:], op: "!"})
		default:
			terms = append(terms, term{key: part, op: "exists"})
		}
	}
	return func(labels map[string]any) bool {
		for _, tm := range terms {
			v, ok := labels[tm.key].(string)
			switch tm.op {
			case "=":
				if !ok || v != tm.value {
					return false
				}
			case "!=":
				if ok && v == tm.value {
					return false
				}
			case "exists":
				if !ok {
					return false
				}
			case "!":
				if ok {
					return false
				}
			}
		}
		return true
	}, nil
}

// readObject decodes a request body holding an object of res.
func (k *fakeKube) readObject(w http.ResponseWriter, r *http.Request, res *kubeResource) (map[string]any, bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	protobuf := ct == "application/vnd.kubernetes.protobuf" && res.kind == "Secret"
	if ct != "application/json" && !strings.HasSuffix(ct, "patch+json") && ct != "application/apply-patch+yaml" && !protobuf {
		k.unsupportedLocked(w, r, http.StatusUnsupportedMediaType, "content type "+r.Header.Get("Content-Type")+" for "+res.resource)
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	var obj map[string]any
	if err == nil && protobuf {
		obj, err = decodeSecretProtobuf(body)
	} else if err == nil {
		err = json.Unmarshal(body, &obj)
	}
	if err != nil || obj == nil {
		k.fail(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the body is not a %s object (%v)", ct, err), nil)
		return nil, false
	}
	if kind, _ := obj["kind"].(string); kind != "" && kind != res.kind {
		k.fail(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("kind %s sent to %s", kind, res.resource), nil)
		return nil, false
	}
	if _, ok := obj["metadata"].(map[string]any); !ok {
		obj["metadata"] = map[string]any{}
	}
	return obj, true
}

// stamp sets what the server owns on obj (uid, resourceVersion, creationTimestamp, generation),
// keeping those of old when it replaces an object, and turns a Secret's stringData into data.
func (k *fakeKube) stamp(obj, old map[string]any) map[string]any {
	k.rv++
	md := obj["metadata"].(map[string]any)
	if old != nil {
		omd := old["metadata"].(map[string]any)
		md["uid"], md["creationTimestamp"] = omd["uid"], omd["creationTimestamp"]
		gen, _ := omd["generation"].(float64)
		md["generation"] = gen + 1
	} else {
		md["uid"] = fmt.Sprintf("%08x-0000-4000-8000-%012x", k.rv, k.rv)
		md["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
		md["generation"] = float64(1)
	}
	md["resourceVersion"] = strconv.Itoa(k.rv)
	if sd, ok := obj["stringData"].(map[string]any); ok {
		data, _ := obj["data"].(map[string]any)
		if data == nil {
			data = map[string]any{}
		}
		for key, v := range sd {
			s, _ := v.(string)
			data[key] = b64([]byte(s))
		}
		obj["data"] = data
		delete(obj, "stringData")
	}
	return obj
}

func (k *fakeKube) store(r *http.Request, verb string, res *kubeResource, ns, name string, obj map[string]any) {
	obj["apiVersion"], obj["kind"] = res.groupVersion(), res.kind
	md := obj["metadata"].(map[string]any)
	md["name"] = name
	if ns != "" {
		md["namespace"] = ns
	}
	if slices.Contains(r.URL.Query()["dryRun"], "All") {
		return
	}
	k.objects[objectKey(res.group, res.resource, ns, name)] = obj
	k.events = append(k.events, fmt.Sprintf("%s %s %s %s", verb, res.groupVersion(), res.resource, strings.TrimPrefix(ns+"/"+name, "/")))
}

func (k *fakeKube) create(w http.ResponseWriter, r *http.Request, res *kubeResource, ns string) {
	obj, ok := k.readObject(w, r, res)
	if !ok {
		return
	}
	md := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if gen, _ := md["generateName"].(string); name == "" && gen != "" {
		name = gen + randomHex(3)[:5]
	}
	if name == "" {
		k.fail(w, http.StatusUnprocessableEntity, "Invalid", res.kind+" is invalid: metadata.name: Required value", nil)
		return
	}
	if mns, _ := md["namespace"].(string); mns != "" && mns != ns {
		k.fail(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", mns, ns), nil)
		return
	}
	if k.objects[objectKey(res.group, res.resource, ns, name)] != nil {
		k.fail(w, http.StatusConflict, "AlreadyExists", fmt.Sprintf("%s %q already exists", res.resource, name),
			map[string]any{"name": name, "group": res.group, "kind": res.resource})
		return
	}
	k.stamp(obj, nil)
	k.store(r, "create", res, ns, name, obj)
	writeKubeJSON(w, http.StatusCreated, obj)
}

func (k *fakeKube) update(w http.ResponseWriter, r *http.Request, res *kubeResource, ns, name string) {
	obj, ok := k.readObject(w, r, res)
	if !ok {
		return
	}
	if n, _ := obj["metadata"].(map[string]any)["name"].(string); n != "" && n != name {
		k.fail(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", n, name), nil)
		return
	}
	old := k.objects[objectKey(res.group, res.resource, ns, name)]
	if old == nil {
		k.notFound(w, res, name)
		return
	}
	if rv, _ := obj["metadata"].(map[string]any)["resourceVersion"].(string); rv != "" && rv != old["metadata"].(map[string]any)["resourceVersion"] {
		k.fail(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", res.resource, name),
			map[string]any{"name": name, "group": res.group, "kind": res.resource})
		return
	}
	k.stamp(obj, old)
	k.store(r, "update", res, ns, name, obj)
	writeKubeJSON(w, http.StatusOK, obj)
}

// patch serves server-side apply (creating the object when it is missing; the applied object
// merged over the stored one, as one field manager's apply does) and JSON merge patch
// (RFC 7386). Strategic merge and JSON patch are refused: nothing here needs them yet.
func (k *fakeKube) patch(w http.ResponseWriter, r *http.Request, res *kubeResource, ns, name string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/apply-patch+yaml" && ct != "application/merge-patch+json" {
		k.unsupportedLocked(w, r, http.StatusUnsupportedMediaType, "patch type "+ct)
		return
	}
	p, ok := k.readObject(w, r, res)
	if !ok {
		return
	}
	old := k.objects[objectKey(res.group, res.resource, ns, name)]
	if old == nil && ct == "application/merge-patch+json" {
		k.notFound(w, res, name)
		return
	}
	if ct == "application/apply-patch+yaml" {
		if n, _ := p["metadata"].(map[string]any)["name"].(string); n != name {
			k.fail(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the name of the applied object (%s) does not match the name on the URL (%s)", n, name), nil)
			return
		}
		if old == nil {
			k.stamp(p, nil)
			k.store(r, "apply", res, ns, name, p)
			writeKubeJSON(w, http.StatusCreated, p)
			return
		}
	}
	obj := mergePatch(deepCopyJSON(old), p, ct == "application/merge-patch+json").(map[string]any)
	k.stamp(obj, old)
	k.store(r, "patch", res, ns, name, obj)
	writeKubeJSON(w, http.StatusOK, obj)
}

// mergePatch merges patch into target: objects key by key, anything else replaced; with
// nullDeletes (RFC 7386) a null value removes the key.
func mergePatch(target, patch any, nullDeletes bool) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for key, v := range pm {
		if v == nil && nullDeletes {
			delete(tm, key)
			continue
		}
		tm[key] = mergePatch(tm[key], v, nullDeletes)
	}
	return tm
}

func (k *fakeKube) delete(w http.ResponseWriter, r *http.Request, res *kubeResource, ns, name string) {
	key := objectKey(res.group, res.resource, ns, name)
	if k.objects[key] == nil {
		k.notFound(w, res, name)
		return
	}
	if !slices.Contains(r.URL.Query()["dryRun"], "All") {
		delete(k.objects, key)
		k.events = append(k.events, fmt.Sprintf("delete %s %s %s", res.groupVersion(), res.resource, strings.TrimPrefix(ns+"/"+name, "/")))
	}
	writeKubeJSON(w, http.StatusOK, kubeStatus(http.StatusOK, "", "", map[string]any{"name": name, "group": res.group, "kind": res.resource}))
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func deepCopyJSON(v map[string]any) map[string]any {
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}
