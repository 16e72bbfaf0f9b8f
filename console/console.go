// Package console serves a web console of a slacker-lua cluster, from
// what its servers publish in ZooKeeper: its namespaces, each with its
// servers, the version each serves, its leader and its functions with
// their parameters and docs. The console is a page built into the binary
// (plain HTML, CSS and JavaScript, nothing fetched from elsewhere) that
// reads the cluster as JSON from the same handler:
//
//	GET  /api/namespaces   every namespace, as a list of [Namespace]
//	GET  /api/servers      every server of a namespace, as a list of [ServerInfo]
//	POST /api/call         a call of a function, a [CallRequest]: its [CallAnswer]
//
// The page asks again every second, so that a namespace added to a
// server, or a version rolling out, shows without a reload. Each function
// has a call form: JSON arguments, sent through the cluster client or to
// a chosen server, answered with the result or the error, its result
// code and the call's time. The console never shows argument values but
// in that form's own answer.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
)

//go:embed static
var static embed.FS

// Cluster is what the console reads a cluster from, and calls it
// through: a *cluster.Client.
type Cluster interface {
	Namespaces(ctx context.Context) ([]string, error)
	Servers(ctx context.Context, ns string) ([]cluster.Server, error)
	ServerData(ctx context.Context, addr string) (cluster.ServerData, bool, error)
	client.Caller
	With(p cluster.Picker) client.Caller
}

// Config configures a console. Cluster is required; the other fields'
// zero values work.
type Config struct {
	// Cluster is the cluster shown. Required.
	Cluster Cluster
	// Timeout bounds what a request of the page waits for ZooKeeper. 0
	// means DefaultTimeout.
	Timeout time.Duration
	// Logger receives the failures to read the cluster. nil discards
	// them.
	Logger *slog.Logger
}

// DefaultTimeout is the default of Config.Timeout.
const DefaultTimeout = 5 * time.Second

// Namespace is a namespace as the console shows it.
type Namespace struct {
	Name       string   `json:"name"`
	Stateful   bool     `json:"stateful"`   // some server runs it stateful
	Idempotent bool     `json:"idempotent"` // every server runs it idempotent
	Leader     string   `json:"leader,omitempty"`
	Servers    []Server `json:"servers"`
	// Functions are those of every server, by name: a function some
	// servers have and others not (a version rolling out) is listed once,
	// with the docs of the first server that has it.
	Functions []cluster.Function `json:"functions"`
}

// Server is a server of a namespace, as the console shows it.
type Server struct {
	Addr    string `json:"addr"`
	Version string `json:"version"` // of the namespace, as the server runs it
	Leader  bool   `json:"leader,omitempty"`
	Weight  int    `json:"weight"`
}

// handler is the console's http.Handler.
type handler struct {
	cfg Config
	mux *http.ServeMux
}

// NewHandler returns the console's handler.
func NewHandler(cfg Config) (http.Handler, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("console: Config.Cluster is required")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("console: Config.Timeout is negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/namespaces", h.namespaces)
	h.mux.HandleFunc("GET /api/servers", h.servers)
	h.mux.HandleFunc("POST /api/call", h.call)
	h.mux.Handle("GET /", http.FileServerFS(files))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) namespaces(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	nss, err := Namespaces(ctx, h.cfg.Cluster)
	if err != nil {
		h.cfg.Logger.Warn("console: reading the cluster", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, nss)
}

// Namespaces reads every namespace of c, sorted by name, as long as ctx
// allows.
func Namespaces(ctx context.Context, c Cluster) ([]Namespace, error) {
	names, err := c.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Namespace, 0, len(names))
	for _, name := range names {
		servers, err := c.Servers(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, namespace(name, servers))
	}
	return out, nil
}

// namespace describes the namespace name served by servers.
func namespace(name string, servers []cluster.Server) Namespace {
	ns := Namespace{Name: name, Servers: []Server{}, Functions: []cluster.Function{}, Idempotent: len(servers) > 0}
	for _, s := range servers {
		d := s.Namespace
		ns.Servers = append(ns.Servers, Server{Addr: s.Addr, Version: d.Version, Leader: s.Leader, Weight: s.Weight()})
		ns.Stateful = ns.Stateful || d.Stateful
		ns.Idempotent = ns.Idempotent && d.Idempotent
		if s.Leader {
			ns.Leader = s.Addr
		}
		for _, f := range d.Functions {
			if !slices.ContainsFunc(ns.Functions, func(g cluster.Function) bool { return g.Name == f.Name }) {
				ns.Functions = append(ns.Functions, f)
			}
		}
	}
	slices.SortFunc(ns.Functions, func(a, b cluster.Function) int { return strings.Compare(a.Name, b.Name) })
	return ns
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
