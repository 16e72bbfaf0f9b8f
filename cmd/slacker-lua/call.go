package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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
	fs.StringVar(&f.contentType, "content-type", "json", "serialization on the wire: json, clj (EDN, slacker's default), nippy or msgpack")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the server")
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

// clientCommand is a command that talks to the server named by its first
// argument.
type clientCommand struct {
	name   string
	fs     *flag.FlagSet
	flags  clientFlags
	stderr io.Writer

	// The cluster to use instead of ADDR, for commands withCluster.
	zk, cluster, zkRoot string
}

func newClientCommand(name, synopsis, about string, stderr io.Writer) *clientCommand {
	c := &clientCommand{name: name, fs: newFlags(name, synopsis, about, stderr), stderr: stderr}
	c.flags.register(c.fs)
	return c
}

// parse parses args, which must leave minArgs to maxArgs arguments (want
// says which), and reports the exit code to return at once, if any.
func (c *clientCommand) parse(args []string, minArgs, maxArgs int, want string) (int, bool) {
	if code, done := parseFlags(c.fs, args); done {
		return code, true
	}
	if n := c.fs.NArg(); n < minArgs || n > maxArgs {
		fmt.Fprintf(c.stderr, "slacker-lua %s: want %s\n", c.name, want)
		c.fs.Usage()
		return exitUsage, true
	}
	return 0, false
}

// connect dials the server; on failure it says why and returns the exit
// code.
func (c *clientCommand) connect(ctx context.Context) (*client.Client, int) {
	cfg, err := c.flags.config()
	if err != nil {
		c.fail(err)
		return nil, exitUsage
	}
	conn, err := dial(ctx, c.fs.Arg(0), cfg)
	if err != nil {
		c.fail(err)
		return nil, exitError
	}
	return conn, exitOK
}

// parseCall parses the arguments of a command that calls a function:
// ADDR, or the cluster flags, then NAMESPACE/FUNCTION and its arguments,
// each JSON or else a string. It reports the exit code to return at once,
// if any.
func (c *clientCommand) parseCall(args []string) (name string, callArgs []any, code int, ok bool) {
	if code, done := c.parse(args, 1, math.MaxInt, "ADDR and NAMESPACE/FUNCTION"); done {
		return "", nil, code, false
	}
	if code, ok := c.checkCluster(); !ok {
		return "", nil, code, false
	}
	rest := c.fs.Args()
	if c.zk == "" {
		if len(rest) < 2 {
			fmt.Fprintf(c.stderr, "slacker-lua %s: want ADDR and NAMESPACE/FUNCTION\n", c.name)
			c.fs.Usage()
			return "", nil, exitUsage, false
		}
		rest = rest[1:]
	}
	callArgs = make([]any, 0, len(rest)-1)
	for _, a := range rest[1:] {
		callArgs = append(callArgs, parseArg(a))
	}
	return rest[0], callArgs, 0, true
}

// withCluster adds the flags that name a cluster instead of ADDR; use
// says what the command does with it.
func (c *clientCommand) withCluster(use string) {
	c.fs.StringVar(&c.zk, "zk", "", "ZooKeeper's `host:port,...`: "+use)
	c.fs.StringVar(&c.cluster, "cluster", "", "the cluster's `name`, with --zk")
	c.fs.StringVar(&c.zkRoot, "zk-root", cluster.DefaultRoot, "the znode the clusters are registered under, with --zk")
}

// checkCluster checks the cluster flags, once parsed.
func (c *clientCommand) checkCluster() (int, bool) {
	switch {
	case c.zk != "" && c.cluster == "":
		fmt.Fprintf(c.stderr, "slacker-lua %s: --zk needs --cluster\n", c.name)
		return exitUsage, false
	case c.zk == "" && (c.cluster != "" || isSet(c.fs, "zk-root")):
		fmt.Fprintf(c.stderr, "slacker-lua %s: --cluster and --zk-root go with --zk\n", c.name)
		return exitUsage, false
	}
	return 0, true
}

// connectCluster makes a client of the cluster the flags name; on
// failure it says why and returns the exit code.
func (c *clientCommand) connectCluster(ctx context.Context) (*cluster.Client, int) {
	cfg, err := c.flags.config()
	if err != nil {
		c.fail(err)
		return nil, exitUsage
	}
	cl, err := dialCluster(ctx, c.zk, cluster.Layout{Root: c.zkRoot, Cluster: c.cluster}, cfg)
	if err != nil {
		c.fail(err)
		return nil, exitError
	}
	return cl, exitOK
}

// fail prints err as the command's error.
func (c *clientCommand) fail(err error) {
	fmt.Fprintf(c.stderr, "slacker-lua %s: %v\n", c.name, err)
}

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("call", "[flags] ADDR NAMESPACE/FUNCTION [ARG...]\n       slacker-lua call [flags] --zk HOST:PORT,... --cluster NAME NAMESPACE/FUNCTION [ARG...]",
		"Calls a function and prints its result as JSON. Each ARG is a JSON value;\n"+
			"an ARG that is not valid JSON is passed as a string, so `echo hello` works.\n"+
			"With --zk and --cluster, the function is called on a server of its namespace\n"+
			"found in ZooKeeper instead of at ADDR.\n"+
			"Exits 1 with the error on stderr if the call fails.", stderr)
	cmd.withCluster("call a server of the --cluster found there")
	name, callArgs, code, ok := cmd.parseCall(args)
	if !ok {
		return code
	}
	var c interface {
		client.Caller
		Close() error
	}
	if cmd.zk != "" {
		cl, code := cmd.connectCluster(ctx)
		if cl == nil {
			return code
		}
		c = cl
	} else {
		cl, code := cmd.connect(ctx)
		if cl == nil {
			return code
		}
		c = cl
	}
	defer c.Close()
	res, err := c.Call(ctx, name, callArgs...)
	if err != nil {
		if re := (*client.RemoteError)(nil); errors.As(err, &re) {
			// The server's answer: say which function it is about.
			fmt.Fprintf(stderr, "slacker-lua call: %s: %v\n", name, err)
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

// parseArg reads a command-line argument as JSON, or as a plain string when
// it isn't JSON.
func parseArg(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	if _, err := dec.Token(); err != io.EOF {
		return s
	}
	return normalizeNumbers(v)
}

// normalizeNumbers turns json.Numbers into int64 where they are integers and
// float64 otherwise, so integers stay integers on the wire.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		for i := range v {
			v[i] = normalizeNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalizeNumbers(v[k])
		}
	}
	return v
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
	cmd := newClientCommand("inspect", "[flags] ADDR [PREFIX]\n       slacker-lua inspect [flags] --zk HOST:PORT,... --cluster NAME [PREFIX]",
		"Lists the functions whose NAMESPACE/FUNCTION name starts with PREFIX (all when\n"+
			"omitted), with their parameters and doc comments, then the files a slacker-lua\n"+
			"server could not load.\n"+
			"With --zk and --cluster, lists the cluster's namespaces, as ZooKeeper has them:\n"+
			"the servers of each and their versions, then its functions, then each server's\n"+
			"data (version, weight, start, --server-data), slacker cluster's Clojure servers'\n"+
			"too.", stderr)
	cmd.withCluster("inspect the --cluster found there")
	if code, done := cmd.parse(args, 0, 2, "ADDR and at most one PREFIX"); done {
		return code
	}
	if code, ok := cmd.checkCluster(); !ok {
		return code
	}
	if cmd.zk != "" {
		if cmd.fs.NArg() > 1 {
			fmt.Fprintln(stderr, "slacker-lua inspect: want at most one PREFIX with --zk")
			return exitUsage
		}
		return inspectCluster(ctx, cmd, stdout)
	}
	if cmd.fs.NArg() == 0 {
		fmt.Fprintln(stderr, "slacker-lua inspect: want ADDR and at most one PREFIX")
		cmd.fs.Usage()
		return exitUsage
	}
	c, code := cmd.connect(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	names, err := c.Functions(ctx, cmd.fs.Arg(1))
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
