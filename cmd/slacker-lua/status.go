package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	cmd := newClientCommand("status", "[flags] ADDR",
		"Lists the namespaces a slacker-lua server serves, with their files and versions\n"+
			"(the first 12 digits of each file's SHA-256), then the files it could not load,\n"+
			"with the errors. Exits 1 if the server can't be asked.", stderr)
	if code, done := cmd.parse(args, 1, 1, "ADDR"); done {
		return code
	}
	c, code := cmd.connect(ctx)
	if c == nil {
		return code
	}
	defer c.Close()
	ns, err := client.CallAs[[]served](ctx, c, namespaces.StatusNamespace+"/namespaces")
	if err != nil {
		if errors.Is(err, client.ErrNotFound) {
			err = fmt.Errorf("%w (the server does not serve %s: not a slacker-lua server?)", err, namespaces.StatusNamespace)
		}
		cmd.fail(err)
		return exitError
	}
	fails, err := failures(ctx, c)
	if err != nil {
		cmd.fail(err)
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
