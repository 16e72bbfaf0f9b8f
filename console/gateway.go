package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
	"github.com/slacker-lua/slacker-lua/namespaces"
	"github.com/slacker-lua/slacker-lua/transport"
)

// Gateway is a [Cluster] of the one server whose HTTP listener (serve
// --http) is at a URL, for a console of a server outside a cluster: its
// namespaces are read from its status namespace and its functions' docs
// from its GET /_inspect, and calls go through its gateway. The server is
// named by the URL's host:port.
type Gateway struct {
	base  string // the URL, without a trailing slash
	addr  string // its host:port
	http  *http.Client
	token string

	mu      sync.Mutex
	at      time.Time // when snap was read
	snap    map[string]cluster.NamespaceData
	reading chan struct{} // closed when the reading under way ends; nil if none
}

// gatewayFresh is how long a Gateway's reading of the server's namespaces
// serves: a console page's requests of one second share it.
const gatewayFresh = 500 * time.Millisecond

// NewGateway returns the Cluster of the server whose HTTP listener is at
// base (http://host:port or https://host:port), asked with hc, and given
// token, if not "", as "Authorization: Bearer" (the server's --token-file).
func NewGateway(base string, hc *http.Client, token string) (*Gateway, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("console: %q: want the URL of a server's HTTP listener, http://host:port", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = u.Host + map[string]string{"http": ":80", "https": ":443"}[u.Scheme]
	}
	return &Gateway{base: strings.TrimSuffix(base, "/"), addr: addr, http: hc, token: token}, nil
}

// do sends a request of path, with body, and returns the answer's body,
// or the server's error, a *client.RemoteError, when the answer carries a
// result code.
func (g *Gateway) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	resp, err := send(ctx, g.http, g.token, method, g.base+path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s%s: %w", method, g.base, path, err)
	}
	if resp.StatusCode == http.StatusOK {
		return b, nil
	}
	if name := resp.Header.Get("X-Slacker-Code"); name != "" {
		re := &client.RemoteError{Code: codeNamed(name), Name: strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".json")}
		if json.Unmarshal(b, &re.Message) != nil {
			re.Message = strings.TrimSpace(string(b))
		}
		return nil, re
	}
	return nil, fmt.Errorf("%s %s%s: %s: %s", method, g.base, path, resp.Status, strings.TrimSpace(string(b)))
}

// codeNamed is the result code named name, CodeException if none is.
func codeNamed(name string) transport.Code {
	for c := range 256 {
		if transport.Code(c).String() == name {
			return transport.Code(c)
		}
	}
	return transport.CodeException
}

// namespaces reads the server's namespaces and their functions, or
// returns those read within gatewayFresh.
func (g *Gateway) namespaces(ctx context.Context) (map[string]cluster.NamespaceData, error) {
	for {
		g.mu.Lock()
		if g.snap != nil && time.Since(g.at) < gatewayFresh {
			defer g.mu.Unlock()
			return g.snap, nil
		}
		wait := g.reading
		if wait == nil {
			// This request reads; those that come meanwhile wait for it,
			// each as long as its own ctx allows.
			g.reading = make(chan struct{})
			g.mu.Unlock()
			snap, err := g.read(ctx)
			g.mu.Lock()
			if err == nil {
				g.snap, g.at = snap, time.Now()
			}
			close(g.reading)
			g.reading = nil
			g.mu.Unlock()
			return snap, err
		}
		g.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("console: listing the namespaces of %s: %w", g.base, ctx.Err())
		}
	}
}

// read reads the server's namespaces and their functions.
func (g *Gateway) read(ctx context.Context) (map[string]cluster.NamespaceData, error) {
	b, err := g.do(ctx, http.MethodPost, "/"+namespaces.StatusNamespace+"/namespaces.json", []byte("[]"))
	if err != nil {
		return nil, fmt.Errorf("console: listing the namespaces of %s: %w", g.base, err)
	}
	var nss []struct {
		Namespace  string `json:"namespace"`
		Version    string `json:"version"`
		Stateful   bool   `json:"stateful"`
		Idempotent bool   `json:"idempotent"`
	}
	if err := json.Unmarshal(b, &nss); err != nil {
		return nil, fmt.Errorf("console: listing the namespaces of %s: %w", g.base, err)
	}
	if b, err = g.do(ctx, http.MethodGet, "/_inspect", nil); err != nil {
		return nil, fmt.Errorf("console: listing the functions of %s: %w", g.base, err)
	}
	var inspect struct {
		Functions []struct {
			Name   string   `json:"name"`
			Params []string `json:"params"`
			Doc    string   `json:"doc"`
		} `json:"functions"`
	}
	if err := json.Unmarshal(b, &inspect); err != nil {
		return nil, fmt.Errorf("console: listing the functions of %s: %w", g.base, err)
	}
	snap := map[string]cluster.NamespaceData{}
	for _, ns := range nss {
		if ns.Namespace != namespaces.StatusNamespace {
			snap[ns.Namespace] = cluster.NamespaceData{Version: ns.Version, Stateful: ns.Stateful, Idempotent: ns.Idempotent, Functions: []cluster.Function{}}
		}
	}
	for _, f := range inspect.Functions {
		ns, fn, _ := strings.Cut(f.Name, "/")
		if d, ok := snap[ns]; ok {
			d.Functions = append(d.Functions, cluster.Function{Name: fn, Params: f.Params, Doc: f.Doc})
			snap[ns] = d
		}
	}
	return snap, nil
}

// Namespaces lists the namespaces the server serves, sorted.
func (g *Gateway) Namespaces(ctx context.Context) ([]string, error) {
	snap, err := g.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(snap)), nil
}

// ServerAddrs names the server.
func (g *Gateway) ServerAddrs(context.Context) ([]string, error) { return []string{g.addr}, nil }

// Servers returns the server, if it serves ns, as the leader of ns if ns
// is stateful.
func (g *Gateway) Servers(ctx context.Context, ns string) ([]cluster.Server, error) {
	snap, err := g.namespaces(ctx)
	if err != nil {
		return nil, err
	}
	d, ok := snap[ns]
	if !ok {
		return []cluster.Server{}, nil
	}
	return []cluster.Server{{Addr: g.addr, Namespace: d, Leader: d.Stateful}}, nil
}

// ServerData returns the server's HTTP address, if addr names it.
func (g *Gateway) ServerData(_ context.Context, addr string) (cluster.ServerData, bool, error) {
	if addr != g.addr {
		return cluster.ServerData{}, false, nil
	}
	return cluster.ServerData{HTTP: g.base, Weight: 1}, true, nil
}

// Call calls the function name through the server's gateway, in JSON.
func (g *Gateway) Call(ctx context.Context, name string, args ...any) (client.Result, error) {
	ns, fn, ok := strings.Cut(name, "/")
	if !ok || ns == "" || fn == "" {
		return client.Result{}, fmt.Errorf("console: %q: want namespace/function", name)
	}
	if args == nil {
		args = []any{}
	}
	body, err := json.Marshal(args)
	if err != nil {
		return client.Result{}, err
	}
	b, err := g.do(ctx, http.MethodPost, "/"+url.PathEscape(ns)+"/"+url.PathEscape(fn)+".json", body)
	if err != nil {
		var re *client.RemoteError
		if errors.As(err, &re) {
			re.Name = name
		}
		return client.Result{}, err
	}
	return client.NewResult(b, transport.JSON), nil
}

// With returns g: a server of its own is every pick's.
func (g *Gateway) With(cluster.Picker) client.Caller { return g }
