// Package clojuretest runs Clojure programs in Debian's Clojure, with nippy
// on the classpath, for the tests that check slacker-lua's EDN and nippy
// codecs against the implementations slacker's clients use. It needs the
// jars of Debian's clojure and libnippy-clojure packages, which
// scripts/install-deps installs; a test that needs them and doesn't find
// them fails, saying so.
package clojuretest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Jars are the classpath: Clojure, and nippy with the libraries it loads.
var Jars = []string{
	"/usr/share/java/clojure.jar",
	"/usr/share/java/spec.alpha.jar",
	"/usr/share/java/core.specs.alpha.jar",
	"/usr/share/java/nippy.jar",
	"/usr/share/java/encore.jar",
	"/usr/share/java/tools.reader.jar",
	"/usr/share/java/lz4-java.jar",
	"/usr/share/java/snappy-java.jar",
	"/usr/share/java/xz.jar",
}

// Timeout bounds one run; a JVM loading nippy starts in about 4 seconds.
const Timeout = 2 * time.Minute

// Run runs program, Clojure source, with stdin as its standard input and
// args as its *command-line-args*, and returns its standard output. It fails
// t if Java or a jar is missing, if the program fails or if it runs longer
// than Timeout.
func Run(t testing.TB, program string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := command(t, ctx, program, args)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("clojuretest: %v\n%s", err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// Start starts program, Clojure source, with args as its
// *command-line-args*, and returns its standard output. The program is
// killed when the test ends, and its standard error is then logged.
func Start(t testing.TB, program string, args ...string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := command(t, ctx, program, args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("clojuretest: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("clojuretest: the program's standard error:\n%s", stderr.Bytes())
		}
	})
	return bufio.NewReader(stdout)
}

// command returns the command running program with args in a JVM.
func command(t testing.TB, ctx context.Context, program string, args []string) *exec.Cmd {
	t.Helper()
	for _, jar := range Jars {
		if _, err := os.Stat(jar); err != nil {
			t.Fatalf("clojuretest: %s is missing: run scripts/install-deps (as make test does) to install Debian's clojure and libnippy-clojure packages", jar)
		}
	}
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("clojuretest: java is not installed: %v", err)
	}
	file := filepath.Join(t.TempDir(), "program.clj")
	if err := os.WriteFile(file, []byte(program), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, java, append([]string{"-XX:TieredStopAtLevel=1", "-Xss8m",
		"-cp", strings.Join(Jars, ":"), "clojure.main", file}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
