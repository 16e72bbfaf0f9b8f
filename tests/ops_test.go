package tests

import (
	"regexp"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

var metricsRE = regexp.MustCompile(`msg="serving metrics and health" metrics=(\S+)`)

// TestMetricsFlag checks that serve --metrics serves the metrics and the
// health endpoints on a listener of their own, without the gateway.
func TestMetricsFlag(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function f() return 1 end"})
	s := startCLI(t, "--metrics", "127.0.0.1:0", dir)
	m := metricsRE.FindStringSubmatch(s.log())
	if m == nil {
		t.Fatalf("no metrics address in the log\n%s", s.log())
	}
	base := "http://" + m[1]
	if code, _, body := request(t, "GET", base+"/readyz", ""); code != 200 || body != "ready: 2 namespaces, 0 failed\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, _, body := request(t, "GET", base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if v := scrape(t, base)["slacker_namespace_files_failing"]; v != 0 {
		t.Errorf("slacker_namespace_files_failing %v", v)
	}
	if code, _, body := request(t, "GET", base+"/metrics", ""); code != 200 || !strings.Contains(body, "slacker_build_info{") {
		t.Errorf("/metrics without slacker_build_info: %d", code)
	}
	if code, _, _ := request(t, "POST", base+"/m/f.json", "[]"); code != 404 {
		t.Errorf("the gateway on the metrics listener: %d", code)
	}
	s.terminate(t)
}
