package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/namespaces"
)

// served and failed are the rows of the status namespace's answers.
type served struct {
	Namespace string `json:"namespace" msgpack:"namespace"`
	File      string `json:"file" msgpack:"file"`
	Version   string `json:"version" msgpack:"version"`
	Functions int    `json:"functions" msgpack:"functions"`
}

type failed struct {
	File      string `json:"file" msgpack:"file"`
	Namespace string `json:"namespace" msgpack:"namespace"`
	Version   string `json:"version" msgpack:"version"`
	Error     string `json:"error" msgpack:"error"`
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newClientCommand("status", "[flags] [ADDR]\n       slacker-lua status [flags] --zk HOST:PORT,... --cluster NAME",
		"Lists the namespaces a slacker-lua server serves, with their files and versions\n"+
			"(the first 12 digits of each file's SHA-256), then the files it could not load,\n"+
			"with the errors. With --zk and --cluster, does so for every server of the\n"+
			"cluster's namespaces, each under a line \"# server HOST:PORT\".\n"+
			"Exits 1 if a server can't be asked or has files it could not load (a deploy\n"+
			"check can wait for 0), 2 on a usage error.", stdout, stderr)
	cmd.withCluster("ask every server of the --cluster found there")
	rest, code, ok := cmd.parse(args)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return cmd.usage("want only ADDR (got %s)", strings.Join(rest, " "))
	}
	if cmd.cluster.zk == "" {
		return serverStatus(ctx, cmd, cmd.addr, stdout)
	}
	addrs, code := clusterServers(ctx, cmd)
	if addrs == nil {
		return code
	}
	code = exitOK
	for i, addr := range addrs {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "# server %s\n", addr)
		code = max(code, serverStatus(ctx, cmd, addr, stdout))
	}
	return code
}

// clusterServers lists the servers of the cluster cmd names, every one
// that serves a namespace, sorted; on failure it says why and returns the
// exit code.
func clusterServers(ctx context.Context, cmd *clientCommand) ([]string, int) {
	c, code := cmd.connectCluster(ctx)
	if c == nil {
		return nil, code
	}
	defer c.Close()
	nss, err := c.Namespaces(ctx)
	if err != nil {
		cmd.fail(err)
		return nil, exitError
	}
	seen := make(map[string]bool)
	for _, ns := range nss {
		servers, err := c.Servers(ctx, ns)
		if err != nil {
			cmd.fail(err)
			return nil, exitError
		}
		for _, s := range servers {
			seen[s.Addr] = true
		}
	}
	if len(seen) == 0 {
		cmd.fail(noCluster(ctx, c, cmd.cluster))
		return nil, exitError
	}
	return slices.Sorted(maps.Keys(seen)), exitOK
}

// serverStatus prints the status of the server at addr and returns the
// exit code: exitError when it can't be asked or has failed files.
func serverStatus(ctx context.Context, cmd *clientCommand, addr string, stdout io.Writer) int {
	c, code := cmd.connectTo(ctx, addr)
	if c == nil {
		return code
	}
	defer c.Close()
	ns, err := client.CallAs[[]served](ctx, c, namespaces.StatusNamespace+"/namespaces")
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			err = fmt.Errorf("%w (the server does not serve %s: not a slacker-lua server?)", err, namespaces.StatusNamespace)
		}
		cmd.fail(fmt.Errorf("%s: %w", addr, err))
		return exitError
	}
	fails, err := failures(ctx, c)
	if err != nil {
		cmd.fail(fmt.Errorf("%s: %w", addr, err))
		return exitError
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tVERSION\tFUNCTIONS\tFILE")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.Namespace, orDash(short(n.Version)), n.Functions, orDash(n.File))
	}
	tw.Flush()
	if len(fails) > 0 {
		fmt.Fprintln(stdout)
		printFailures(stdout, fails)
		cmd.fail(fmt.Errorf("%s: %d file(s) failed to load", addr, len(fails)))
		return exitError
	}
	return exitOK
}

// failures asks a server which files it could not load.
func failures(ctx context.Context, c *client.Client) ([]failed, error) {
	return client.CallAs[[]failed](ctx, c, namespaces.StatusNamespace+"/failures")
}

func printFailures(w io.Writer, fails []failed) {
	fmt.Fprintf(w, "%d file(s) failed to load:\n", len(fails))
	for _, f := range fails {
		if f.Version != "" {
			fmt.Fprintf(w, "  %s (version %s): %s\n", f.File, short(f.Version), f.Error)
		} else {
			fmt.Fprintf(w, "  %s: %s\n", f.File, f.Error)
		}
	}
}

// short is a version as people read it: the first 12 hex digits of the
// hash.
func short(hash string) string { return hash[:min(12, len(hash))] }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
