package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/transport"
)

// clientFlags are the flags of the commands that talk to a server.
type clientFlags struct {
	contentType string
	timeout     time.Duration
	security    clientSecurity
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.registerConn(fs)
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the server")
}

// registerConn registers the flags of the connection, all but --timeout,
// for a command whose --timeout is of its own.
func (f *clientFlags) registerConn(fs *flag.FlagSet) {
	fs.StringVar(&f.contentType, "content-type", "json", "serialization on the wire: json, clj (EDN, slacker's default), nippy or msgpack")
	f.security.register(fs)
}

// config checks the flags and returns the client configuration they ask for.
func (f *clientFlags) config() (client.Config, error) {
	if f.timeout <= 0 {
		return client.Config{}, fmt.Errorf("bad --timeout %v: want a positive duration", f.timeout)
	}
	cfg := client.Config{Timeout: f.timeout, DialTimeout: min(f.timeout, client.DefaultDialTimeout), ClientName: "slacker-lua-cli"}
	var err error
	if cfg.TLS, err = f.security.tlsConfig(); err != nil {
		return cfg, err
	}
	if cfg.Token, err = f.security.token(); err != nil {
		return cfg, err
	}
	if cfg.ContentType, err = transport.ParseContentType(f.contentType); err != nil {
		return cfg, fmt.Errorf("bad --content-type %q: want json, clj, nippy or msgpack", f.contentType)
	}
	return cfg, nil
}

// dialCluster makes a client of the cluster at layout, with the
// ZooKeeper servers zk ("host:port,..."), waiting for ZooKeeper as long
// as cfg.Timeout allows.
func dialCluster(ctx context.Context, zk string, layout cluster.Layout, cfg client.Config) (*cluster.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return cluster.NewClient(ctx, cluster.ClientConfig{ZooKeeper: strings.Split(zk, ","), Layout: layout, Client: cfg})
}

func dial(ctx context.Context, addr string, cfg client.Config) (*client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	return client.Dial(dctx, addr, cfg)
}

// clientCommand is a command that talks to a server, named by ADDR, its
// first argument, or by $SLACKER_ADDR; or, for commands withCluster, to a
// cluster, named by --zk and --cluster or the environment.
type clientCommand struct {
	name           string
	fs             *flag.FlagSet
	flags          clientFlags
	stdout, stderr io.Writer

	addr       string        // the server's, once parsed, unless a cluster is
	hasCluster bool          // withCluster was called
	cluster    clusterTarget // the cluster, when cluster.zk is set once parsed
	raw        bool          // --raw, for commands withArgs
	takesURL   bool          // withURL was called
	url        string        // a server's HTTP listener, once parsed, for commands withURL
}

func newClientCommand(name, synopsis, about string, stdout, stderr io.Writer) *clientCommand {
	c := &clientCommand{name: name, fs: newFlags(name, synopsis, about+"\n\n"+envHelp, stderr), stdout: stdout, stderr: stderr}
	c.flags.register(c.fs)
	return c
}

// withCluster adds the flags that name a cluster instead of ADDR; use
// says what the command does with it.
func (c *clientCommand) withCluster(use string) {
	c.hasCluster = true
	c.cluster.register(c.fs, use)
}

// withURL lets the command name a server by the URL of its HTTP
// listener, http://host:port, instead of ADDR or a cluster.
func (c *clientCommand) withURL() { c.takesURL = true }

// withArgs adds --raw, for commands that take a function's arguments.
func (c *clientCommand) withArgs() {
	c.fs.BoolVar(&c.raw, "raw", false, "send every ARG as a string, as typed; @FILE and - send the file's or stdin's text")
}

// parse parses args and finds what the command talks to (see envHelp),
// and returns the arguments after ADDR. It reports the exit code to
// return at once, if any.
func (c *clientCommand) parse(args []string) (rest []string, code int, ok bool) {
	if code, done := parseCommandLine(c.fs, args, c.stdout, anyArgs); done {
		return nil, code, false
	}
	rest = c.fs.Args()
	addrGiven := len(rest) > 0 && looksLikeAddr(rest[0])
	urlGiven := c.takesURL && len(rest) > 0 && (strings.HasPrefix(rest[0], "http://") || strings.HasPrefix(rest[0], "https://"))
	switch {
	case c.hasCluster && isSet(c.fs, "zk"):
		if addrGiven {
			return nil, c.usage("ADDR %s and --zk name two targets: give one", rest[0]), false
		}
		if urlGiven {
			return nil, c.usage("URL %s and --zk name two targets: give one", rest[0]), false
		}
	case urlGiven:
		c.url, rest = rest[0], rest[1:]
		return rest, 0, true
	case addrGiven:
		c.addr, rest = rest[0], rest[1:]
	case os.Getenv(envAddr) != "":
		c.addr = os.Getenv(envAddr)
	case c.hasCluster && os.Getenv(envZK) != "":
		c.cluster.zk = os.Getenv(envZK)
	case len(rest) > 0 && !strings.Contains(rest[0], "/"):
		c.addr, rest = rest[0], rest[1:] // not host:port: dialing it says why
	case c.hasCluster:
		return nil, c.usage("want ADDR, or --zk and --cluster (or $%s, or $%s and $%s)", envAddr, envZK, envCluster), false
	default:
		return nil, c.usage("want ADDR (or $%s)", envAddr), false
	}
	if c.hasCluster {
		if err := c.cluster.check(c.fs); err != nil {
			return nil, c.usage("%v", err), false
		}
	}
	return rest, 0, true
}

// usage prints a usage error of the command and returns exitUsage.
func (c *clientCommand) usage(format string, args ...any) int {
	return usageError(c.stderr, c.name, format, args...)
}

// connect dials the server; on failure it says why and returns the exit
// code.
func (c *clientCommand) connect(ctx context.Context) (*client.Client, int) {
	return c.connectTo(ctx, c.addr)
}

// connectTo dials the server at addr, as connect does.
func (c *clientCommand) connectTo(ctx context.Context, addr string) (*client.Client, int) {
	cfg, err := c.flags.config()
	if err != nil {
		return nil, c.usage("%v", err)
	}
	conn, err := dial(ctx, addr, cfg)
	if err != nil {
		c.fail(err)
		return nil, exitError
	}
	return conn, exitOK
}

// parseCall parses the arguments of a command that calls a function:
// ADDR, or the cluster flags, then NAMESPACE/FUNCTION and its arguments
// (see argHelp). It reports the exit code to return at once, if any.
func (c *clientCommand) parseCall(args []string, stdin io.Reader) (name string, callArgs []any, code int, ok bool) {
	rest, code, ok := c.parse(args)
	if !ok {
		return "", nil, code, false
	}
	if len(rest) == 0 {
		return "", nil, c.usage("want NAMESPACE/FUNCTION"), false
	}
	if err := checkFunction(rest[0]); err != nil {
		return "", nil, c.usage("%v", err), false
	}
	callArgs, err := parseArgs(rest[1:], c.raw, stdin)
	if err != nil {
		return "", nil, c.usage("%v", err), false
	}
	return rest[0], callArgs, 0, true
}

// connectCluster makes a client of the cluster the flags name; on
// failure it says why and returns the exit code.
func (c *clientCommand) connectCluster(ctx context.Context) (*cluster.Client, int) {
	cfg, err := c.flags.config()
	if err != nil {
		return nil, c.usage("%v", err)
	}
	cl, err := dialCluster(ctx, c.cluster.zk, c.cluster.layout(), cfg)
	if err != nil {
		c.fail(err)
		return nil, exitError
	}
	return cl, exitOK
}

// connectAny connects to the cluster or the server the command names.
func (c *clientCommand) connectAny(ctx context.Context) (target, int) {
	if c.cluster.zk != "" {
		cl, code := c.connectCluster(ctx)
		if cl == nil {
			return nil, code
		}
		return cl, code
	}
	cl, code := c.connect(ctx)
	if cl == nil {
		return nil, code
	}
	return cl, code
}

// fail prints err as the command's error.
func (c *clientCommand) fail(err error) {
	fmt.Fprintf(c.stderr, "slacker-lua %s: %v\n", c.name, err)
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("call", "[flags] [ADDR] NAMESPACE/FUNCTION [ARG...]\n       slacker-lua call [flags] --zk HOST:PORT,... --cluster NAME NAMESPACE/FUNCTION [ARG...]",
		"Calls a function and prints its result as JSON.\n\n"+argHelp+"\n\n"+
			"With --zk and --cluster, the function is called on a server of its namespace\n"+
			"found in ZooKeeper instead of at ADDR.\n"+
			"Exits 1 with the error on stderr if the call fails, 2 on a usage error.", stdout, stderr)
	cmd.withCluster("call a server of the --cluster found there")
	cmd.withArgs()
	name, callArgs, code, ok := cmd.parseCall(args, os.Stdin)
	if !ok {
		return code
	}
	c, code := cmd.connectAny(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	res, err := c.Call(ctx, name, callArgs...)
	if err != nil {
		if re := (*client.RemoteError)(nil); errors.Is(err, context.DeadlineExceeded) {
			// The client's timeout, or the server's answer at the deadline.
			fmt.Fprintf(stderr, "slacker-lua call: %s: deadline exceeded (see --timeout)\n", name)
		} else if errors.As(err, &re) {
			// The server's answer, about the function called.
			fmt.Fprintf(stderr, "slacker-lua call: %s\n", remoteText(name, re))
		} else {
			fmt.Fprintln(stderr, "slacker-lua call:", err)
		}
		return exitError
	}
	v, err := res.Value()
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua call: decoding the result:", err)
		return exitError
	}
	out, err := marshalJSON(v)
	if err != nil {
		fmt.Fprintln(stderr, "slacker-lua call: printing the result:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%s\n", out)
	return exitOK
}

// marshalJSON prints a result: byte strings and maps with non-string keys
// (both possible with msgpack) get JSON's closest form.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonable(v)); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func jsonable(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = jsonable(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonable(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []byte:
		return string(v)
	}
	return v
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("inspect", "[flags] [ADDR] [PREFIX]\n       slacker-lua inspect [flags] --zk HOST:PORT,... --cluster NAME [PREFIX]",
		"Lists the functions whose NAMESPACE/FUNCTION name starts with PREFIX (all when\n"+
			"omitted), with their parameters and doc comments, then the files a slacker-lua\n"+
			"server could not load.\n"+
			"With --zk and --cluster, lists the cluster's namespaces, as ZooKeeper has them:\n"+
			"the servers of each and their versions, then its functions, then each server's\n"+
			"data (version, weight, start, --server-data), slacker cluster's Clojure servers'\n"+
			"too. Exits 1 when the cluster has no namespace: no such cluster, or no server\n"+
			"registered yet.", stdout, stderr)
	cmd.withCluster("inspect the --cluster found there")
	rest, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(rest) > 1 {
		return cmd.usage("want at most one PREFIX (got %s)", strings.Join(rest, " "))
	}
	prefix := strings.Join(rest, "")
	if cmd.cluster.zk != "" {
		return inspectCluster(ctx, cmd, prefix, stdout)
	}
	c, code := cmd.connect(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	names, err := c.Functions(ctx, prefix)
	if err != nil {
		cmd.fail(err)
		return exitError
	}
	for _, n := range names {
		m, err := c.Meta(ctx, n)
		if err != nil {
			fmt.Fprintf(stdout, "%s\n", n)
			continue
		}
		printFunction(stdout, n, m.Params, m.Doc)
	}
	// Other servers of the protocol have no failures to tell.
	if fails, err := failures(ctx, c); err == nil && len(fails) > 0 {
		fmt.Fprintln(stdout)
		printFailures(stdout, fails)
	}
	return exitOK
}

// printFunction prints a function as inspect does: its name and
// parameters, then its doc, indented.
func printFunction(w io.Writer, name string, params []string, doc string) {
	fmt.Fprintf(w, "%s(%s)\n", name, strings.Join(params, ", "))
	for _, line := range strings.Split(doc, "\n") {
		if line != "" {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

// remoteText is the server's answer re to a call of name, as the command
// line says it: "NAME: not found", "NAME: exception: MESSAGE".
func remoteText(name string, re *client.RemoteError) string {
	msg := name + ": " + strings.ReplaceAll(re.Code.String(), "-", " ")
	if re.Message != "" {
		msg += ": " + re.Message
	}
	return msg
}
