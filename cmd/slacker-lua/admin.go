package main

import (
	"context"
	"fmt"
	"io"
	"net"
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
			"URL is the HTTP listener's, such as http://10.0.0.5:2105; HOST:PORT alone means\n"+
			"http://HOST:PORT, or https:// with --tls-ca. Prints the state after the change\n"+
			"as JSON.", stderr)
	var sec clientSecurity
	sec.register(fs)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the server")
	if code, done := parseCommandLine(fs, args, stdout, nargs{2, 3, "URL and offline [NAMESPACE], online [NAMESPACE], weight N or state"}); done {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "slacker-lua admin: "+format+"\n", a...)
		return code
	}
	verb, rest := fs.Arg(1), fs.Args()[2:]
	method, path := "POST", "/_admin/"+verb
	switch {
	case (verb == "offline" || verb == "online") && len(rest) <= 1:
		if len(rest) == 1 {
			path += "?namespace=" + url.QueryEscape(rest[0])
		}
	case verb == "weight" && len(rest) == 1:
		if _, err := strconv.Atoi(rest[0]); err != nil {
			return usageError(stderr, "admin", "weight %q: want a number", rest[0])
		}
		path += "?value=" + rest[0]
	case verb == "state" && len(rest) == 0:
		method = "GET"
	default:
		return usageError(stderr, "admin", "want offline [NAMESPACE], online [NAMESPACE], weight N or state after URL (got %s)", strings.Join(fs.Args()[1:], " "))
	}
	tlsCfg, err := sec.tlsConfig()
	if err != nil {
		return usageError(stderr, "admin", "%v", err)
	}
	token, err := sec.token()
	if err != nil {
		return usageError(stderr, "admin", "%v", err)
	}
	base, err := adminURL(fs.Arg(0), tlsCfg != nil)
	if err != nil {
		return usageError(stderr, "admin", "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return usageError(stderr, "admin", "%v", err)
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
	// The admin endpoints answer errors without X-Slacker-Code: one with
	// it, or a 405, is the function gateway's, which serves the path when
	// they are not served.
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.Header.Get("X-Slacker-Code") != "" || resp.StatusCode == http.StatusMethodNotAllowed:
		return fail(exitError, "%s serves no admin endpoints (%s): start the server with --admin-token-file FILE, beside --http and --zk", base, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized:
		return fail(exitError, "%s: %s: give --token-file with a token of the server's --admin-token-file", base, resp.Status)
	default:
		return fail(exitError, "%s: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	stdout.Write(body)
	return exitOK
}

// adminURL is the base URL of a server's admin endpoints, from URL as
// typed: http:// or https://HOST:PORT, or HOST:PORT alone, which is
// https:// with TLS and http:// without.
func adminURL(s string, withTLS bool) (string, error) {
	bad := fmt.Errorf("bad URL %q: want http://HOST:PORT, https://HOST:PORT or HOST:PORT, such as 127.0.0.1:2105", s)
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(strings.TrimSuffix(s, "/")); err != nil {
			return "", bad
		}
		scheme := "http://"
		if withTLS {
			scheme = "https://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", bad
	}
	return strings.TrimSuffix(s, "/"), nil
}
