package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFakeKube checks the fake Kubernetes API server (kubeapi_test.go) against the real helm
// v3 and v4 on the chart `helm create` writes, with each form of discovery: install (into a
// namespace helm creates), list and uninstall work, the objects and the release Secret are
// stored and removed, and nothing helm asked for went unanswered.
func TestFakeKube(t *testing.T) {
	for _, h := range helmVersions {
		for _, legacy := range []bool{false, true} {
			name := h.name + "/aggregated-discovery"
			if legacy {
				name = h.name + "/legacy-discovery"
			}
			t.Run(name, func(t *testing.T) {
				helm := need(t, h)
				e := newToolEnv(t)
				k := newFakeKube(t)
				k.Legacy = legacy
				k.Use(e)
				src := filepath.Join(t.TempDir(), "demo")
				e.must(helm, "create", src)
				e.must(helm, "install", "rel", src, "--set", "image.tag=9.9.9", "--namespace", "apps", "--create-namespace")
				if k.Object("", "namespaces", "", "apps") == nil {
					t.Error("no Namespace apps after helm install --create-namespace")
				}
				if img := k.Image("apps", "rel-demo"); img != "nginx:9.9.9" {
					t.Errorf("Deployment rel-demo image = %q; want nginx:9.9.9", img)
				}
				for _, o := range [][2]string{{"", "services"}, {"", "serviceaccounts"}} {
					if k.Object(o[0], o[1], "apps", "rel-demo") == nil {
						t.Errorf("no %s rel-demo", o[1])
					}
				}
				rel, labels, ok := k.Release("apps", "rel", 1)
				if !ok || rel.Info.Status != "deployed" || labels["status"] != "deployed" || labels["owner"] != "helm" || rel.Chart.Metadata.Name != "demo" {
					t.Fatalf("release Secret: %v %+v labels %v", ok, rel.Info, labels)
				}
				if out := e.must(helm, "list", "--namespace", "apps"); !strings.Contains(out, "deployed") {
					t.Errorf("helm list:\n%s", out)
				}
				e.must(helm, "uninstall", "rel", "--namespace", "apps")
				if k.Object("apps", "deployments", "apps", "rel-demo") != nil {
					t.Error("the Deployment outlived helm uninstall")
				}
				if _, _, ok := k.Release("apps", "rel", 1); ok {
					t.Error("the release Secret outlived helm uninstall")
				}
				served := k.Served()
				t.Logf("requests helm made: %v", served)
				if want := "GET /apis (aggregated)"; legacy {
					if served[want] != 0 || served["GET /apis/{group}/{version}"] == 0 {
						t.Errorf("legacy discovery not used: %v", served)
					}
				} else if served[want] == 0 {
					t.Errorf("aggregated discovery not used: %v", served)
				}
				if u := k.Unknown(); len(u) > 0 {
					t.Errorf("helm asked for what the fake server does not serve: %v", u)
				}
				if ev := k.Events(); !slices.Contains(ev, "delete v1 secrets apps/sh.helm.release.v1.rel.v1") {
					t.Errorf("events %v", ev)
				}
			})
		}
	}
}
