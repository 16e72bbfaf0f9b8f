package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/internal/zktest"
)

// The documents whose example commands TestDocs runs.
var documents = []string{"../README.md", "../CLUSTER.md"}

// TestDocs runs the example commands of README.md and CLUSTER.md as a
// user pastes them, with bash, against real servers and a real ZooKeeper,
// and checks the output the documents show, so that the documents and
// the program can't drift apart.
//
// The commands are the lines of ```sh blocks: those starting with "$ "
// where a block has some (the lines after one, up to the next, are its
// output), else every line but comments; a line ending in a backslash
// goes on on the next, and "  # ..." ends a command. An output line "..."
// stands for any lines; a block's other lines are its output exactly,
// once the addresses (host:port) on both sides are read as one. A command
// shown without output must exit 0. A block right after the comment
// <!-- docs-test: skip: REASON --> is not run, for the reason given.
//
// The commands run in a folder of their own, where examples is the
// project's and lua a copy of examples/lua, against:
//
//	127.0.0.1:2104, 127.0.0.1:2105, 10.0.0.5:2105
//	                      a server of a copy of examples/lua and of
//	                      broken.lua, in the cluster "example", with
//	                      --http and --admin-token-file
//	127.0.0.1:2181, zk1:2181, zk1:2181,zk2:2181
//	                      a ZooKeeper, where two servers of examples/lua
//	                      are in the cluster "example-cluster" too
//	/etc/slacker-lua/     a folder of the test's, with admin-token
//
// A serve command starts a server, on 127.0.0.1:0 (--listen :2104 and
// --http 127.0.0.1:2105 become that), which the block's later commands
// call at 127.0.0.1:2105, until the block ends. A dev command starts a
// cluster, whose output up to its "Ctrl-C" line is checked; the addresses
// it shows stand, in the document's later blocks, for those it printed,
// and it runs until the test ends. The commands of notRun are not run, for the reasons given there.
func TestDocs(t *testing.T) {
	bin := binary(t)
	work := t.TempDir()
	examples, err := filepath.Abs("../examples")
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(work, "etc")
	served := filepath.Join(work, "served")
	for _, dir := range []string{etc, served} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(examples, filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(work, "lua"), os.DirFS(filepath.Join(examples, "lua"))); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(served, os.DirFS(filepath.Join(examples, "lua"))); err != nil {
		t.Fatal(err)
	}
	for path, text := range map[string]string{
		filepath.Join(served, "broken.lua"): "function broken() end end\n",
		filepath.Join(etc, "admin-token"):   "docs-admin-token\n",
		// curl's progress meter, which it shows when its output is not
		// a terminal, as here.
		filepath.Join(work, ".curlrc"): "silent\nshow-error\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	zk := zktest.Start(t)
	main := startCLI(t, "--zk", zk.Addr, "--cluster", "example", "--http", "127.0.0.1:0",
		"--admin-token-file", filepath.Join(etc, "admin-token"), served)
	mainHTTP := strings.TrimPrefix(httpURL(t, main), "http://")
	for range 2 {
		startCLI(t, "--zk", zk.Addr, "--cluster", "example-cluster", filepath.Join(examples, "lua"))
	}
	waitReady(t, "http://"+mainHTTP)

	env := &docEnv{
		top:  t,
		bin:  bin,
		work: work,
		subst: []string{
			"go run ./cmd/slacker-lua", "slacker-lua",
			"/etc/slacker-lua/", etc + "/",
			"127.0.0.1:2104", main.addr,
			"127.0.0.1:2105", mainHTTP,
			"10.0.0.5:2105", mainHTTP,
			"zk1:2181,zk2:2181", zk.Addr,
			"zk1:2181", zk.Addr,
			"127.0.0.1:2181", zk.Addr,
		},
	}
	ran := 0
	for _, doc := range documents {
		blocks, err := parseDoc(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			name := fmt.Sprintf("%s:%d", filepath.Base(doc), b.line)
			if b.skip != "" {
				t.Logf("%s: not run: %s", name, b.skip)
				continue
			}
			t.Run(name, func(t *testing.T) { env.runBlock(t, b) })
			ran += len(b.cmds)
		}
	}
	if ran == 0 {
		t.Fatal("no commands found in the documents")
	}
}

// notRun are the documented commands TestDocs does not run, by their
// first words, and why.
var notRun = map[string]string{
	"make test":    "the whole suite, which CI runs",
	"go test":      "benchmarks and the soak, test runs of their own",
	"go install":   "installs the published module, which needs the network; go build of the clone is what every test runs",
	"make compare": "the comparison with Redis Functions and gRPC, minutes long, run by hand",
	"java -cp":     "runs ZooKeeper in the foreground on the fixed port of the zoo.cfg shown; internal/zkrun starts it so for every cluster test, on a free port",
}

// waitReady waits until the server of the gateway at url is ready.
func waitReady(t *testing.T, url string) {
	t.Helper()
	testutil.WaitFor(t, 30*time.Second, func() bool {
		res, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, "the server ready")
}

// docBlock is a ```sh block of a document.
type docBlock struct {
	line int    // of its opening fence
	skip string // why it is not run, or ""
	cmds []docCmd
}

// docCmd is a command of a block and the output the document shows.
type docCmd struct {
	line int
	text string
	want []string
	// shown says the block shows outputs ("$ " lines), so that no
	// output means none.
	shown bool
}

var skipRE = regexp.MustCompile(`^<!-- docs-test: skip: (.+) -->$`)

// parseDoc reads the ```sh blocks of the document at path.
func parseDoc(path string) ([]docBlock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []docBlock
	var cur *docBlock
	var body []string
	prev := ""
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &docBlock{line: i + 1}
			if m := skipRE.FindStringSubmatch(strings.TrimSpace(prev)); m != nil {
				cur.skip = m[1]
			}
			body = nil
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.cmds = parseCommands(cur.line+1, body)
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body = append(body, line)
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	return blocks, nil
}

// parseCommands reads the commands of a block's lines, the first at line
// first of the document.
func parseCommands(first int, lines []string) []docCmd {
	prompted := false
	for _, l := range lines {
		if strings.HasPrefix(l, "$ ") {
			prompted = true
		}
	}
	var cmds []docCmd
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if prompted && !strings.HasPrefix(l, "$ ") {
			if len(cmds) > 0 {
				cmds[len(cmds)-1].want = append(cmds[len(cmds)-1].want, l)
			}
			continue
		}
		text := strings.TrimPrefix(l, "$ ")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		c := docCmd{line: first + i, shown: prompted}
		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(lines[i])
		}
		c.text = stripComment(text)
		cmds = append(cmds, c)
	}
	return cmds
}

var commentRE = regexp.MustCompile(`\s{2,}#\s.*$`)

// stripComment drops the "  # ..." that ends a command.
func stripComment(s string) string {
	return strings.TrimSpace(commentRE.ReplaceAllString(s, ""))
}

// docEnv is where the commands run.
type docEnv struct {
	top   *testing.T // the processes a block starts run until it ends
	bin   string
	work  string
	subst []string // pairs: what the document says, what the test has
}

var (
	addrRE      = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}:\d+\b|\[::1?\]:\d+`)
	listenRE    = regexp.MustCompile(`--listen[ =]\S+`)
	serveHTTPRE = regexp.MustCompile(`--http[ =]\S+`)
)

// runBlock runs b's commands in order and checks their outputs.
func (e *docEnv) runBlock(t *testing.T, b docBlock) {
	subst := e.subst
	preamble := "" // the block's commands that set the shell's state
	for _, c := range b.cmds {
		text := c.text
		if why, ok := notRunWhy(text); ok {
			t.Logf("line %d: %s: not run: %s", c.line, text, why)
			continue
		}
		switch {
		case isShellState(text):
			preamble += text + "; "
			continue
		case isServe(text):
			s := e.serve(t, preamble, text)
			if s.http != "" {
				subst = append([]string{"127.0.0.1:2105", s.http}, subst...)
			}
			continue
		case isDev(text):
			e.dev(t, c)
			subst = e.subst
			continue
		}
		text = preamble + strings.NewReplacer(subst...).Replace(text)
		got, code := e.run(t, text)
		want := c.want
		for i := range want {
			want[i] = strings.NewReplacer(subst...).Replace(want[i])
		}
		for len(want) > 0 && strings.TrimSpace(want[len(want)-1]) == "" {
			want = want[:len(want)-1]
		}
		if len(want) == 0 {
			if code != 0 {
				t.Errorf("line %d: %s: exit %d\n%s", c.line, c.text, code, got)
			}
			continue
		}
		if !matchOutput(normalizeAddrs(want), normalizeAddrs(strings.Split(strings.TrimRight(got, "\n"), "\n"))) {
			t.Errorf("line %d: %s: the output is\n%s\nthe document shows\n%s", c.line, c.text, got, strings.Join(c.want, "\n"))
		}
	}
}

// isShellState reports whether text sets the state of the shell, which
// the block's later commands have.
func isShellState(text string) bool {
	f := strings.Fields(text)
	return len(f) > 0 && (f[0] == "umask" || f[0] == "export" || f[0] == "cd")
}

// notRunWhy says why text is not run, if it is one of notRun.
func notRunWhy(text string) (string, bool) {
	for prefix, why := range notRun {
		if text == prefix || strings.HasPrefix(text, prefix+" ") {
			return why, true
		}
	}
	return "", false
}

// isDev reports whether text starts a dev cluster.
func isDev(text string) bool {
	f := strings.Fields(text)
	return len(f) >= 2 && f[0] == "slacker-lua" && f[1] == "dev"
}

var (
	pidRE     = regexp.MustCompile(`\(pid \d+\)`)
	tempDirRE = regexp.MustCompile(`/\S*/slacker-lua-dev-\d+`)
)

// dev starts the dev cluster of c, checks what it prints up to its
// "Ctrl-C" line against c's output, and makes the addresses and folder the
// document shows stand for those it printed, in the blocks that follow.
func (e *docEnv) dev(t *testing.T, c docCmd) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+strings.NewReplacer(e.subst...).Replace(c.text))
	cmd.Dir = e.work
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string, 1)
	go func() {
		var got []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			got = append(got, sc.Text())
			if strings.HasPrefix(sc.Text(), "Ctrl-C") {
				break
			}
		}
		lines <- got
		io.Copy(io.Discard, stdout)
	}()
	e.top.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			e.top.Errorf("%s: %v\n%s", c.text, err, stderr.String())
		}
	})
	var got []string
	select {
	case got = <-lines:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: no Ctrl-C line after 2 minutes", c.text)
	}
	norm := func(l []string) []string {
		out := normalizeAddrs(l)
		for i := range out {
			out[i] = tempDirRE.ReplaceAllString(pidRE.ReplaceAllString(out[i], "(pid N)"), "TEMPDIR")
		}
		return out
	}
	if !matchOutput(norm(c.want), norm(got)) {
		t.Fatalf("line %d: %s: the output is\n%s\nthe document shows\n%s", c.line, c.text, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
	}
	// The lines match one for one up to the first "...": pair their
	// addresses.
	for i := 0; i < len(c.want) && i < len(got) && strings.TrimSpace(c.want[i]) != "..."; i++ {
		docs, ours := addrRE.FindAllString(c.want[i], -1), addrRE.FindAllString(got[i], -1)
		for j := range min(len(docs), len(ours)) {
			e.subst = append([]string{docs[j], ours[j]}, e.subst...)
		}
	}
}

// isServe reports whether text starts a server.
func isServe(text string) bool {
	f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(text), "&"))
	return len(f) >= 2 && f[0] == "slacker-lua" && f[1] == "serve" || len(f) >= 4 && strings.Join(f[:4], " ") == "go run ./cmd/slacker-lua serve"
}

// run runs text with bash in the work folder and returns its output,
// standard output and error as they came, and its exit code.
func (e *docEnv) run(t *testing.T, text string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir = e.work
	cmd.Env = e.environ()
	out, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%s: %v", text, err)
	}
	return string(out), code
}

// environ is the environment of the commands: the built slacker-lua
// first on PATH, and the work folder as HOME.
func (e *docEnv) environ() []string {
	return append(os.Environ(), "PATH="+filepath.Dir(e.bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+e.work)
}

// docServer is a server a block started.
type docServer struct {
	addr, http string
}

var serveHTTPLogRE = regexp.MustCompile(`msg="serving HTTP" http=(\S+)`)

// serve starts the server of text, on free ports, and waits until it
// serves; it is stopped when the test ends.
func (e *docEnv) serve(t *testing.T, preamble, text string) docServer {
	t.Helper()
	text = strings.TrimSuffix(strings.TrimSpace(text), "&")
	text = strings.Replace(text, "go run ./cmd/slacker-lua", "slacker-lua", 1)
	if listenRE.MatchString(text) {
		text = listenRE.ReplaceAllString(text, "--listen 127.0.0.1:0")
	} else {
		text = strings.Replace(text, "slacker-lua serve", "slacker-lua serve --listen 127.0.0.1:0", 1)
	}
	text = serveHTTPRE.ReplaceAllString(text, "--http 127.0.0.1:0")
	text = strings.NewReplacer(e.subst...).Replace(text)
	cmd := exec.Command("bash", "-c", preamble+"exec "+text)
	cmd.Dir = e.work
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs bytes.Buffer
	found := make(chan docServer, 1)
	done := make(chan error, 1)
	go func() {
		var s docServer
		sent := false
		wantHTTP := strings.Contains(text, "--http")
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			logs.WriteString(line + "\n")
			mu.Unlock()
			if m := servingRE.FindStringSubmatch(line); m != nil {
				s.addr = m[1]
			}
			if m := serveHTTPLogRE.FindStringSubmatch(line); m != nil {
				s.http = m[1]
			}
			if !sent && s.addr != "" && (s.http != "" || !wantHTTP) {
				found <- s
				sent = true
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case s := <-found:
		return s
	case err := <-done:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: exited: %v\n%s", text, err, logs.String())
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s: not serving after 30s\n%s", text, logs.String())
	}
	return docServer{}
}

var (
	timeRE   = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b`)
	leaderRE = regexp.MustCompile(`^(# \S+: .*) leader\b`)
)

// normalizeAddrs reads every host:port of lines as one, and every time;
// and, in inspect --zk's line of a namespace, which server leads, as
// that is not known in advance.
func normalizeAddrs(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		l = timeRE.ReplaceAllString(addrRE.ReplaceAllString(l, "HOST:PORT"), "TIME")
		for leaderRE.MatchString(l) {
			l = leaderRE.ReplaceAllString(l, "$1")
		}
		out[i] = l
	}
	return out
}

// matchOutput reports whether got is what want shows: want's lines in
// order, "..." standing for any lines.
func matchOutput(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if matchOutput(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && strings.TrimRight(got[0], " \r") == strings.TrimRight(want[0], " ") && matchOutput(want[1:], got[1:])
}
