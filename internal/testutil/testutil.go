// Package testutil holds what slacker-lua's tests share: folders of files,
// polling for a condition, a goroutine-leak check, and a log buffer.
package testutil

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// WriteFiles writes files, keyed by slash paths relative to a new
// temporary folder, and returns the folder.
func WriteFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Rename renames from to to, failing the test if it can't.
func Rename(t testing.TB, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// Symlink makes link a symbolic link to target, failing the test if it
// can't.
func Symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls cond until it holds, failing the test with what it waited
// for if timeout passes first. Call it from the test goroutine only.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// CheckGoroutines fails the test if goroutines started during it are still
// running a few seconds after it ends, and prints their stacks.
func CheckGoroutines(t testing.TB) { CheckGoroutinesExcept(t) }

// CheckGoroutinesExcept is CheckGoroutines not counting the goroutines
// whose stacks have one of the functions of known, such as a
// dependency's goroutine that a race of its own leaves blocked.
func CheckGoroutinesExcept(t testing.TB, known ...string) {
	t.Helper()
	count := func() (int, []byte) {
		buf := make([]byte, 1<<20)
		all := buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range bytes.Split(all, []byte("\n\n")) {
			if !slices.ContainsFunc(known, func(f string) bool { return bytes.Contains(g, []byte(f)) }) {
				n++
			}
		}
		return n, all
	}
	before, _ := count()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, all := count()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines: %d before the test, %d after\n%s", before, n, all)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers, for
// capturing logs and output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewLogger returns a debug-level JSON logger and the buffer it writes to.
func NewLogger() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// RunUnprivileged makes the test t run as a user that file permissions
// apply to. Run as root, which reads any file, it runs t again in a copy
// of the test binary as the user nobody, through setpriv (util-linux),
// fails t if that run fails, and returns true: the caller returns at once.
// Run as any other user, it returns false: the caller goes on.
func RunUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("running as root, the test needs setpriv to run as another user: %v", err)
	}
	// A folder nobody can read, holding a copy of the test binary.
	dir, err := os.MkdirTemp("", "unprivileged")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(self))
	if err := copyFile(self, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "TMPDIR="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	return true
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
