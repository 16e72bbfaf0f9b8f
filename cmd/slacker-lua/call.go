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
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.contentType, "content-type", "json", "serialization on the wire: json or msgpack")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the server")
}

// config checks the flags and returns the client configuration they ask for.
func (f *clientFlags) config() (client.Config, error) {
	if f.timeout <= 0 {
		return client.Config{}, fmt.Errorf("bad --timeout %v: want a positive duration", f.timeout)
	}
	cfg := client.Config{Timeout: f.timeout, DialTimeout: min(f.timeout, client.DefaultDialTimeout), ClientName: "slacker-lua-cli"}
	switch strings.ToLower(f.contentType) {
	case "json":
		cfg.ContentType = transport.ContentJSON
	case "msgpack":
		cfg.ContentType = transport.ContentMsgpack
	default:
		return cfg, fmt.Errorf("bad --content-type %q: want json or msgpack", f.contentType)
	}
	return cfg, nil
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
	zkServers := cmd.fs.String("zk", "", "ZooKeeper's `host:port,...`: call a server of the --cluster found there")
	clusterName := cmd.fs.String("cluster", "", "the cluster's `name`, with --zk")
	zkRoot := cmd.fs.String("zk-root", cluster.DefaultRoot, "the znode the clusters are registered under, with --zk")
	if code, done := cmd.parse(args, 1, math.MaxInt, "ADDR and NAMESPACE/FUNCTION"); done {
		return code
	}
	rest := cmd.fs.Args()
	if *zkServers == "" {
		if len(rest) < 2 {
			fmt.Fprintln(stderr, "slacker-lua call: want ADDR and NAMESPACE/FUNCTION")
			cmd.fs.Usage()
			return exitUsage
		}
		rest = rest[1:]
	} else if *clusterName == "" {
		fmt.Fprintln(stderr, "slacker-lua call: --zk needs --cluster")
		return exitUsage
	}
	if *zkServers == "" && (*clusterName != "" || isSet(cmd.fs, "zk-root")) {
		fmt.Fprintln(stderr, "slacker-lua call: --cluster and --zk-root go with --zk")
		return exitUsage
	}
	name := rest[0]
	callArgs := make([]any, 0, len(rest)-1)
	for _, a := range rest[1:] {
		callArgs = append(callArgs, parseArg(a))
	}
	var c interface {
		client.Caller
		Close() error
	}
	if *zkServers != "" {
		cfg, err := cmd.flags.config()
		if err != nil {
			cmd.fail(err)
			return exitUsage
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
		cl, err := client.NewCluster(cctx, client.ClusterConfig{
			ZooKeeper: strings.Split(*zkServers, ","),
			Layout:    cluster.Layout{Root: *zkRoot, Cluster: *clusterName},
			Client:    cfg,
		})
		if err != nil {
			cmd.fail(err)
			return exitError
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
	cmd := newClientCommand("inspect", "[flags] ADDR [PREFIX]",
		"Lists the functions whose NAMESPACE/FUNCTION name starts with PREFIX (all when\n"+
			"omitted), with their parameters and doc comments, then the files a slacker-lua\n"+
			"server could not load.", stderr)
	if code, done := cmd.parse(args, 1, 2, "ADDR and at most one PREFIX"); done {
		return code
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
		fmt.Fprintf(stdout, "%s(%s)\n", n, strings.Join(m.Params, ", "))
		for _, line := range strings.Split(m.Doc, "\n") {
			if line != "" {
				fmt.Fprintf(stdout, "    %s\n", line)
			}
		}
	}
	// Other servers of the protocol have no failures to tell.
	if fails, err := failures(ctx, c); err == nil && len(fails) > 0 {
		fmt.Fprintln(stdout)
		printFailures(stdout, fails)
	}
	return exitOK
}
