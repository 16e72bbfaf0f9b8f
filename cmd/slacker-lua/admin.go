package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// adminState is what GET /_admin/state answers.
type adminState struct {
	Offline           bool     `json:"offline"`            // the whole server is out of the cluster
	OfflineNamespaces []string `json:"offline_namespaces"` // namespaces out of it
	Weight            int      `json:"weight"`
}

// adminHandler serves the operator's endpoints on the HTTP listener, for
// a server of a cluster, to callers with an admin token:
//
//	POST /_admin/offline[?namespace=NS]  take the server (or NS) out of the cluster
//	POST /_admin/online[?namespace=NS]   put it back
//	POST /_admin/weight?value=N          announce weight N
//	GET  /_admin/state                   what is offline, and the weight
func adminHandler(member *membership, authenticate func(string) bool) http.Handler {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(member.state())
	}
	for path, off := range map[string]bool{"/_admin/offline": true, "/_admin/online": false} {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			if err := member.setOffline(r.URL.Query().Get("namespace"), off); err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			answer(w)
		})
	}
	mux.HandleFunc("POST /_admin/weight", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("value"))
		if err == nil {
			err = member.m.SetWeight(n)
		}
		if err != nil {
			http.Error(w, "want ?value=N, N a weight of 0 or more: "+err.Error(), http.StatusBadRequest)
			return
		}
		member.log.Info("operator: weight changed", "weight", member.m.Weight())
		answer(w)
	})
	mux.HandleFunc("GET /_admin/state", func(w http.ResponseWriter, r *http.Request) { answer(w) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !authenticate(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slacker-lua admin"`)
			http.Error(w, "an admin token is required: Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

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
