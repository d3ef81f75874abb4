package ui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/chartroom/chartroom/internal/chart/charttest"
	"github.com/chartroom/chartroom/internal/registry"
)

// BenchmarkBrowse10k measures the chart page and the search page, warm, in a namespace of
// CHARTROOM_UI_BENCH_VERSIONS (default 10,000) versions: 100 charts, one of which holds
// half of them. Setting up takes minutes (each version is published through the registry):
//
//	go test -run '^$' -bench Browse10k -benchtime 200x ./internal/server/ui/
func BenchmarkBrowse10k(b *testing.B) {
	n := 10000
	if s := os.Getenv("CHARTROOM_UI_BENCH_VERSIONS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := newEnv(b, true)
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("chart%02d", i%100)
		if i%2 == 0 {
			name = "big"
		}
		version := fmt.Sprintf("1.%d.%d", i/100, i%100)
		if _, err := e.Publish(b, charttest.Minimal(b, name, version, "x"), registry.PublishChartRequest{Namespace: "team", Actor: "admin"}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("published %d versions in %s", n, time.Since(start).Round(time.Second))
	for _, page := range []string{"/ui/chart/team/big", "/ui/search?q=chart5", "/ui/ns/team"} {
		b.Run(page, func(b *testing.B) {
			// Server time: the handler, without a network in between.
			get := func() {
				w := httptest.NewRecorder()
				e.ui.ServeHTTP(w, httptest.NewRequest(http.MethodGet, page, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d", page, w.Code)
				}
			}
			get() // warm
			b.ResetTimer()
			for range b.N {
				get()
			}
		})
	}
}
