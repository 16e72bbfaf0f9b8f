package metrics_test

import (
	"io"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/metrics"
)

// TestBuildInfo checks that slacker_build_info is 1 with its three labels.
func TestBuildInfo(t *testing.T) {
	m := metrics.New()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	var line string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "slacker_build_info{") {
			line = l
		}
	}
	if !strings.Contains(line, `goversion="`+runtime.Version()+`"`) || !strings.Contains(line, `revision="`) ||
		!strings.Contains(line, `version="`) || !strings.HasSuffix(line, "} 1") {
		t.Errorf("slacker_build_info: %q", line)
	}
}
