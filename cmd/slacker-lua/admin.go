package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("admin", "[flags] URL offline|online [NAMESPACE] | weight N | state",
		"Changes what a running server of a cluster announces, without stopping it, through\n"+
			"the admin endpoints of its HTTP listener (serve --http with --admin-token-file):\n\n"+
			"  offline [NAMESPACE]  take the server, or one namespace, out of the cluster:\n"+
			"                       its nodes go from ZooKeeper; it goes on serving calls\n"+
			"  online [NAMESPACE]   put it back\n"+
			"  weight N             announce the weight N (for clients that weigh servers)\n"+
			"  state                print what is offline, and the weight\n\n"+
			"URL is the HTTP listener's, such as http://10.0.0.5:2105. Prints the state after\n"+
			"the change as JSON.", stderr)
	var sec clientSecurity
	sec.register(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the server")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "slacker-lua admin: "+format+"\n", a...)
		return code
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return exitUsage
	}
	base, verb, rest := strings.TrimSuffix(fs.Arg(0), "/"), fs.Arg(1), fs.Args()[2:]
	method, path := "POST", "/_admin/"+verb
	switch {
	case (verb == "offline" || verb == "online") && len(rest) <= 1:
		if len(rest) == 1 {
			path += "?namespace=" + url.QueryEscape(rest[0])
		}
	case verb == "weight" && len(rest) == 1:
		if _, err := strconv.Atoi(rest[0]); err != nil {
			return fail(exitUsage, "weight %q: want a number", rest[0])
		}
		path += "?value=" + rest[0]
	case verb == "state" && len(rest) == 0:
		method = "GET"
	default:
		fs.Usage()
		return exitUsage
	}
	tlsCfg, err := sec.tlsConfig()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	token, err := sec.token()
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := hc.Do(req)
	if err != nil {
		return fail(exitError, "%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail(exitError, "%v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fail(exitError, "%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	stdout.Write(body)
	return exitOK
}
