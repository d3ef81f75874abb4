// Package e2e holds chartroom's black-box tests: they start the real chartroom binary
// (CHARTROOM_BIN) on a temporary data directory and drive it with the real peer tools —
// helm v3 and v4, oras, crane — and with raw HTTP, as users and scripts would. Nothing here
// imports chartroom's internal packages.
//
// Run them with `make test` from the repository root, which builds the binary and the pinned
// tools and exports their paths. By hand:
//
//	go build -o bin/chartroom ./cmd/chartroom
//	export $(scripts/tools.sh helm3 helm4 oras crane)
//	cd e2e && CHARTROOM_BIN=$PWD/../bin/chartroom go test ./...
//
// A missing tool skips its tests locally and fails them when CI is set.
//
// There is no Kubernetes cluster on the test machines or in CI: tests that `helm install`
// (TestProxy, TestInstallCommandsFromTheUI, TestFakeKube) point helm's KUBECONFIG at a minimal
// API server in the test process (fakeKube, kubeapi_test.go) that stores what helm sends and
// lets the test assert it.
package e2e
