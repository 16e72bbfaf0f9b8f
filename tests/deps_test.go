package tests

import (
	"os/exec"
	"strings"
	"testing"
)

const (
	module     = "github.com/slacker-lua/slacker-lua"
	zooKeeper  = "github.com/go-zookeeper/zk"
	gopherLua  = "github.com/yuin/gopher-lua"
	goListArgs = "-f={{.ImportPath}} {{join .Imports \" \"}}"
)

// TestDependencies checks the boundaries architecture.md names: only
// cluster imports go-zookeeper, and a program that calls one server
// links neither go-zookeeper nor gopher-lua, nor OpenTelemetry; and the
// command links no gRPC, its OTLP exporter being its own.
func TestDependencies(t *testing.T) {
	goList := func(args ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
		if err != nil {
			t.Fatalf("go list %v: %v", args, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	for _, dep := range goList("-deps", module+"/client") {
		if strings.HasPrefix(dep, zooKeeper) || strings.HasPrefix(dep, gopherLua) || strings.HasPrefix(dep, "go.opentelemetry.io/") {
			t.Errorf("the one-server client links %s", dep)
		}
	}
	for _, dep := range goList("-deps", module+"/cmd/slacker-lua") {
		if strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("the command links %s", dep)
		}
	}
	importers := 0
	for _, line := range goList(goListArgs, module+"/...") {
		pkg, imports, _ := strings.Cut(line, " ")
		if !strings.Contains(" "+imports+" ", " "+zooKeeper+" ") {
			continue
		}
		importers++
		if pkg != module+"/cluster" {
			t.Errorf("%s imports go-zookeeper: only cluster may", pkg)
		}
	}
	if importers == 0 {
		t.Error("no package imports go-zookeeper: the listing is not what the test reads")
	}
}
