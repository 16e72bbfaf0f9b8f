package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
)

// cliWith runs the command as cli does, with these variables added to
// its environment and stdin as its standard input. SLACKER_ADDR,
// SLACKER_ZK and SLACKER_CLUSTER are cleared unless env sets them.
func cliWith(t testing.TB, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "SLACKER_ADDR=", "SLACKER_ZK=", "SLACKER_CLUSTER=")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestCLIFlagsAnywhere runs command lines that once surprised: flags after the
// arguments are flags, words after -- are arguments, and so are negative
// numbers; JSON arguments, @FILE, - and --raw; and ADDR from
// $SLACKER_ADDR.
func TestCLIFlagsAnywhere(t *testing.T) {
	s := startCLI(t, "../examples/lua", "--watch", "poll", "--poll-interval", "1s") // serve's flags after DIR
	if !strings.Contains(s.log(), "watch=poll") {
		t.Fatalf("serve's flags after DIR were not used:\n%s", s.log())
	}
	file := filepath.Join(t.TempDir(), "arg.json")
	if err := os.WriteFile(file, []byte(`{"from": "file"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	addrEnv := []string{"SLACKER_ADDR=" + s.addr}
	for _, tc := range []struct {
		env            []string
		stdin          string
		args           []string
		stdout, stderr string // regexps
		code           int
	}{
		{nil, "", []string{"call", s.addr, "slacker.example.api/echo", "hello", "--content-type", "msgpack"}, `\A"hello"\n\z`, `\A\z`, 0},
		{nil, "", []string{"call", s.addr, "slacker.example.api/echo", "hello", "--content-type", "xml"}, `\A\z`, `\Aslacker-lua call: bad --content-type "xml"`, 2},
		{nil, "", []string{"call", s.addr, "slacker.example.api/long-running", "--timeout", "300ms"}, `\A\z`, `deadline exceeded`, 1},
		{nil, "", []string{"call", s.addr, "slacker.example.api/echo", "--", "--not-a-flag"}, `\A"--not-a-flag"\n\z`, `\A\z`, 0},
		{nil, "", []string{"call", s.addr, "slacker.example.math/add", "-1", "-2.5"}, `\A-3.5\n\z`, `\A\z`, 0},
		{nil, "", []string{"call", s.addr, "slacker.example.api/echo", "@" + file}, `\A\{"from":"file"\}\n\z`, `\A\z`, 0},
		{nil, `[1, "two"]`, []string{"call", s.addr, "slacker.example.api/echo", "-"}, `\A\[1,"two"\]\n\z`, `\A\z`, 0},
		{nil, "", []string{"call", "--raw", s.addr, "slacker.example.api/echo", "1", "{"}, `\A\["1","\{"\]\n\z`, `\A\z`, 0},
		{nil, "text\n", []string{"call", s.addr, "slacker.example.api/echo", "-", "--raw"}, `\A"text\\n"\n\z`, `\A\z`, 0},
		{addrEnv, "", []string{"call", "slacker.example.math/add", "1", "2"}, `\A3\n\z`, `\A\z`, 0},
		{addrEnv, "", []string{"call", "--timeout", "5s", "slacker.example.math/add", "1", "2"}, `\A3\n\z`, `\A\z`, 0},
		{[]string{"SLACKER_ADDR=127.0.0.1:1"}, "", []string{"call", s.addr, "slacker.example.math/add", "1", "2"}, `\A3\n\z`, `\A\z`, 0},
		{addrEnv, "", []string{"inspect", "slacker.example.math/"}, `\Aslacker.example.math/add\(a, b\)\n`, `\A\z`, 0},
		{addrEnv, "", []string{"status"}, `(?m)^slacker.example.math +[0-9a-f]{12} +3 +`, `\A\z`, 0},
		{nil, "", []string{"bench", s.addr, "slacker.example.math/add", "1", "2", "-n", "10", "-c", "1", "--warmup", "0s"}, `\Aslacker.example.math/add\(1, 2\) on \S+, 1 connection: 1 caller, json\n10 calls in `, `\A\z`, 0},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := cliWith(t, tc.env, tc.stdin, tc.args...)
			if code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(stdout) || !regexp.MustCompile(tc.stderr).MatchString(stderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout %s, stderr %s", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

// TestCLIUsageErrors checks that a bad command line is one line on
// stderr that says what is wrong and points to --help, exit 2, with no
// network: the calls name 127.0.0.1:1, where nothing listens, so a
// command that dialed would exit 1.
func TestCLIUsageErrors(t *testing.T) {
	see := func(cmd string) string { return "; see 'slacker-lua " + cmd + " --help'\n" }
	for _, tc := range []struct {
		args []string
		want string // the line, without "slacker-lua CMD: " and see(CMD)
	}{
		{[]string{"call", "127.0.0.1:1", "slacker.example.api"}, `"slacker.example.api" is no function: want NAMESPACE/FUNCTION, such as slacker.example.math/add`},
		{[]string{"call", "127.0.0.1:1", "ns/"}, `"ns/": want NAMESPACE/FUNCTION, both parts non-empty`},
		{[]string{"call", "127.0.0.1:1", "/fn"}, `"/fn": want NAMESPACE/FUNCTION, both parts non-empty`},
		{[]string{"call", "127.0.0.1:1", "a/b", `{"a": 1,}`}, `argument {"a": 1,} is not valid JSON: invalid character '}' looking for beginning of object key string (--raw sends it as a string)`},
		{[]string{"call", "127.0.0.1:1", "a/b", "[1, 2"}, `argument [1, 2 is not valid JSON: unexpected end of JSON input (--raw sends it as a string)`},
		{[]string{"call", "127.0.0.1:1", "a/b", "@/nonexistent/arg.json"}, `argument @/nonexistent/arg.json: no such file or directory`},
		{[]string{"call", "a/b"}, `want ADDR, or --zk and --cluster (or $SLACKER_ADDR, or $SLACKER_ZK and $SLACKER_CLUSTER)`},
		{[]string{"call", "127.0.0.1:1", "a/b", "--bogus"}, `flag provided but not defined: -bogus`},
		{[]string{"call", "127.0.0.1:1", "a/b", "--timeout"}, `flag needs an argument: -timeout`},
		{[]string{"call", "--zk", "127.0.0.1:1", "--cluster", "c", "127.0.0.1:1", "a/b"}, `ADDR 127.0.0.1:1 and --zk name two targets: give one`},
		{[]string{"bench", "127.0.0.1:1", "a", "-n", "5"}, `"a" is no function: want NAMESPACE/FUNCTION, such as slacker.example.math/add`},
		{[]string{"inspect", "127.0.0.1:1", "a", "b"}, `want at most one PREFIX (got a b)`},
		{[]string{"status", "127.0.0.1:1", "extra"}, `want only ADDR (got extra)`},
		{[]string{"serve", "../examples/lua", "--listen"}, `flag needs an argument: -listen`},
		{[]string{"serve", "a", "b"}, `want exactly one folder to serve (got 2: a b)`},
		{[]string{"test", "--tls-ca", "ca.pem", "."}, `--content-type, --tls-ca, --tls-cert and --token-file go with --addr or --zk`},
		{[]string{"admin", "127.0.0.1:1"}, `want URL and offline [NAMESPACE], online [NAMESPACE], weight N or state (got 1: 127.0.0.1:1)`},
		{[]string{"admin", "127.0.0.1", "state"}, `bad URL "127.0.0.1": want http://HOST:PORT, https://HOST:PORT or HOST:PORT, such as 127.0.0.1:2105`},
		{[]string{"admin", "127.0.0.1:1", "reboot"}, `want offline [NAMESPACE], online [NAMESPACE], weight N or state after URL (got reboot)`},
		{[]string{"version", "extra"}, `want no arguments (got 1: extra)`},
		{[]string{"completion", "fish"}, `unknown shell "fish": want bash or zsh`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := cliWith(t, nil, "", tc.args...)
			want := "slacker-lua " + tc.args[0] + ": " + tc.want + see(tc.args[0])
			if code != 2 || stdout != "" || stderr != want {
				t.Fatalf("exit %d, stdout %q, stderr\n%q\nwant exit 2 and\n%q", code, stdout, stderr, want)
			}
		})
	}
	if _, stderr, code := cliWith(t, nil, "", "bogus"); code != 2 || stderr != "slacker-lua: unknown command \"bogus\"; see 'slacker-lua --help'\n" {
		t.Errorf("bogus: exit %d, %q", code, stderr)
	}
}

// TestCLIHelp checks that every command's --help is its full help, with
// the flag rule, on stdout, exit 0, and that the client commands tell
// the environment they read.
func TestCLIHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "call", "inspect", "status", "test", "bench", "admin", "version", "completion"} {
		for _, help := range []string{"--help", "-h"} {
			stdout, stderr, code := cliWith(t, nil, "", cmd, help)
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: slacker-lua "+cmd) || !strings.Contains(stdout, "Flags may come before, between or after the arguments; after --, every word") {
				t.Errorf("%s %s: exit %d, stderr %q, stdout\n%s", cmd, help, code, stderr, stdout)
			}
		}
	}
	for _, cmd := range []string{"call", "inspect", "status", "bench"} {
		stdout, _, _ := cliWith(t, nil, "", cmd, "--help")
		for _, want := range []string{"$SLACKER_ADDR", "$SLACKER_ZK", "$SLACKER_CLUSTER", "-tls-ca", "-token-file", "-zk"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s --help does not tell %s", cmd, want)
			}
		}
	}
	if stdout, _, code := cliWith(t, nil, "", "help", "call"); code != 0 || !strings.Contains(stdout, "-raw") {
		t.Errorf("help call: exit %d\n%s", code, stdout)
	}
	if stdout, _, code := cliWith(t, nil, "", "--help"); code != 0 || !strings.Contains(stdout, "completion") || !strings.Contains(stdout, "--version") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
}

// TestCLIVersion checks that version, --version and -V print what the Go
// toolchain recorded in the binary, as `go version -m` reads it.
func TestCLIVersion(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded := make(map[string]string)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod":
			recorded["mod"] = f[2]
		case len(f) == 2 && f[0] == "build":
			if k, v, ok := strings.Cut(f[1], "="); ok {
				recorded[k] = v
			}
		case len(f) == 1 && strings.HasPrefix(f[0], bin+": "):
			recorded["go"] = strings.TrimPrefix(f[0], bin+": ")
		}
	}
	want := "slacker-lua " + recorded["mod"] + " ("
	if rev := recorded["vcs.revision"]; rev != "" {
		want += "revision " + rev[:12] + ", "
	}
	if recorded["vcs.modified"] == "true" {
		want += "modified, "
	}
	want += recorded["go"] + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"-V"}} {
		if stdout, stderr, code := cliWith(t, nil, "", args...); code != 0 || stdout != want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q (go version -m: %v)", args[0], code, stdout, stderr, want, recorded)
		}
	}
}

// TestCLICompletion checks that bash accepts `completion bash` and
// completes commands and flags with it, and that zsh, if installed,
// accepts `completion zsh`.
func TestCLICompletion(t *testing.T) {
	script, _, code := cliWith(t, nil, "", "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	file := filepath.Join(t.TempDir(), "slacker-lua.bash")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	// complete WORD... offers what bash would for the last word.
	complete := func(words ...string) string {
		t.Helper()
		driver := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _slacker_lua; echo "${COMPREPLY[*]}"`
		out, err := exec.Command("bash", append([]string{"-c", driver, "bash", file, "slacker-lua"}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"ca"}, "call"},
		{[]string{"co"}, "console completion"},
		{[]string{"console", "--li"}, "--listen"},
		{[]string{"call", "127.0.0.1:2104", "--content"}, "--content-type"},
		{[]string{"call", "--r"}, "--raw"},
		{[]string{"serve", "--zk-l"}, "--zk-layout"},
		{[]string{"status", "--tls-c"}, "--tls-ca --tls-cert"},
		{[]string{"test", "--tls-c"}, "--tls-ca --tls-cert"},
		{[]string{"bench", "-c"}, "-c"},
		{[]string{"call", "--", "--con"}, ""},        // after --, arguments
		{[]string{"call", "--content-type", ""}, ""}, // a flag's value
		{[]string{"completion", "z"}, "zsh"},
		{[]string{"help", "st"}, "status"},
	} {
		if got := complete(tc.words...); got != tc.want {
			t.Errorf("completing %q: %q, want %q", tc.words, got, tc.want)
		}
	}

	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Log("no zsh: completion zsh not checked")
		return
	}
	script, _, code = cliWith(t, nil, "", "completion", "zsh")
	zfile := filepath.Join(t.TempDir(), "_slacker-lua")
	if err := os.WriteFile(zfile, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(zsh, "-n", zfile).CombinedOutput(); code != 0 || err != nil {
		t.Fatalf("completion zsh: exit %d; zsh -n: %v\n%s", code, err, out)
	}
	if out, err := exec.Command(zsh, "-c", `autoload -U compinit && compinit -u -D && source "$1" && print -r -- ${_comps[slacker-lua]}`, "zsh", zfile).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "_slacker-lua" {
		t.Fatalf("zsh does not register the completion: %v\n%s", err, out)
	}
}

// TestCLIConnectionFlags checks that status and test reach a server with
// TLS and a token as call does.
func TestCLIConnectionFlags(t *testing.T) {
	pki := newPKI(t)
	dir := testutil.WriteFiles(t, map[string]string{
		"m.lua":      "function add(a, b) return a + b end",
		"m_test.lua": "function test_add(t) t:eq(slacker.call('m/add', 1, 2), 3) end",
	})
	tokens := filepath.Join(pki.dir, "tokens")
	if err := os.WriteFile(tokens, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCLI(t, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey, "--token-file", tokens, dir)
	conn := []string{"--tls-ca", pki.caFile, "--token-file", tokens}
	if stdout, stderr, code := cliWith(t, nil, "", append([]string{"status", s.addr}, conn...)...); code != 0 || !regexp.MustCompile(`(?m)^m +[0-9a-f]{12} +1 +m.lua$`).MatchString(stdout) {
		t.Errorf("status with TLS and a token: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := cliWith(t, nil, "", append([]string{"test", "--addr", s.addr, dir + "/m_test.lua"}, conn...)...); code != 0 || stdout != "1 passed, 0 failed\n" {
		t.Errorf("test with TLS and a token: exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout, stderr, code := cliWith(t, nil, "", "test", "--addr", s.addr, "--tls-ca", pki.caFile, dir+"/m_test.lua"); code == 0 || !strings.Contains(stdout+stderr, "acl reject: the server wants a token, and this client has none") {
		t.Errorf("test with TLS and no token: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestCLIAdminWithoutEndpoints checks admin's error against a server
// that serves HTTP without --admin-token-file, reached by a URL without
// a scheme.
func TestCLIAdminWithoutEndpoints(t *testing.T) {
	dir := testutil.WriteFiles(t, map[string]string{"m.lua": "function f() return 1 end"})
	s := startCLI(t, "--http", "127.0.0.1:0", dir)
	url := httpURL(t, s)
	for verb, status := range map[string]string{"offline": "400 Bad Request", "state": "405 Method Not Allowed"} {
		_, stderr, code := cliWith(t, nil, "", "admin", strings.TrimPrefix(url, "http://"), verb)
		want := "slacker-lua admin: " + url + " serves no admin endpoints (" + status + "): start the server with --admin-token-file FILE, beside --http and --zk\n"
		if code != 1 || stderr != want {
			t.Errorf("admin %s: exit %d, %q, want %q", verb, code, stderr, want)
		}
	}
}
