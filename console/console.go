// Package console serves a web console of a slacker-lua cluster, from
// what its servers publish in ZooKeeper and from their own HTTP
// listeners: its namespaces, each with its servers, the version each
// serves, its leader and its functions with their parameters and docs; its
// servers, with what an operator took offline and the files failing to
// load; and their figures. The console is a page built into the binary
// (plain HTML, CSS and JavaScript, nothing fetched from elsewhere) that
// reads the cluster as JSON from the same handler:
//
//	GET  /api/config       what the page may offer, a [Settings]
//	GET  /api/namespaces   every namespace, as a list of [Namespace]
//	GET  /api/servers      every server, as a list of [ServerInfo]
//	GET  /api/figures      the figures, [Figures], with the points after ?after=SEQ
//	POST /api/call         a call of a function, a [CallRequest]: its [CallAnswer]
//	POST /api/admin        an operator's [Action]: its [ActionAnswer]
//
// The page asks again every second, so that a namespace added to a
// server, or a version rolling out, shows without a reload; what did not
// change is not sent again (ETag). The figures are read from every
// server's /metrics, at the HTTP address it publishes, every
// Config.Every: calls and errors a second, p50 and p99 latency and calls
// in flight, of each server, each namespace and the whole cluster, over
// the last Config.Window. Each function has a call form: JSON arguments,
// sent through the cluster client or to a chosen server, answered with
// the result or the error, its result code and the call's time. The
// console never shows argument values but in that form's own answer.
// With Config.AdminToken it takes servers and namespaces out of the
// cluster and back, and changes weights, through the servers' own admin
// endpoints.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
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
	ServerAddrs(ctx context.Context) ([]string, error)
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
	// Timeout bounds what a request of the page waits for ZooKeeper or a
	// server. 0 means DefaultTimeout.
	Timeout time.Duration
	// Every is how often the console reads every server's /metrics for
	// its figures (from the HTTP address the server publishes), each
	// within Every and Timeout, and Window how long it keeps them. 0
	// means DefaultEvery and DefaultWindow.
	Every, Window time.Duration
	// HTTP is the client the console reaches the servers' HTTP listeners
	// with: their /metrics, their status namespace and their admin
	// endpoints. nil means one whose requests last no longer than Timeout
	// and follow no redirect (see NoRedirects).
	HTTP *http.Client
	// ServerToken is the token the console gives the servers' gateways
	// (their --token-file) when it asks their status namespace for the
	// files failing to load. "" gives none.
	ServerToken string
	// AdminToken is the token the console gives the servers' admin
	// endpoints, to take a server or a namespace out of the cluster and
	// back, or change a server's weight, as `slacker-lua admin` does. ""
	// means no token: the console offers no action.
	AdminToken string
	// AdminAuthenticate, if not nil, is asked about the token that comes
	// with every action (in an X-Admin-Token header): the page asks its
	// user for one, so that reaching the console is not enough to take a
	// server out of the cluster. nil takes actions from anyone the
	// console takes requests from.
	AdminAuthenticate func(token string) bool
	// Authenticate, if not nil, is asked about the token of every request
	// for the cluster (Authorization: Bearer TOKEN); the page asks its
	// user for one. nil takes requests without a token.
	Authenticate func(token string) bool
	// Hosts, if not empty, are the only host names the console answers to
	// (in the Host header, with any port), so that a page of another site
	// can't reach a console on loopback under a name of its own (DNS
	// rebinding). Empty answers to any.
	Hosts []string
	// Logger receives the failures to read the cluster. nil discards
	// them.
	Logger *slog.Logger
}

// NoRedirects is an http.Client's CheckRedirect that follows no redirect:
// the console's requests carry tokens, which a redirect could take to
// another port or host.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// LoopbackHosts returns the host names of loopback, for Config.Hosts.
func LoopbackHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// Defaults of Config's fields, and the least Every.
const (
	DefaultEvery  = 2 * time.Second
	DefaultWindow = 5 * time.Minute
	MinEvery      = 100 * time.Millisecond
)

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

// Console is a web console of a cluster: an http.Handler.
type Console struct {
	cfg     Config
	mux     *http.ServeMux
	figures *figures
}

// New returns a console of cfg.Cluster, which reads the servers' figures
// until it is closed.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.Cluster == nil:
		return nil, errors.New("console: Config.Cluster is required")
	case cfg.Timeout < 0 || cfg.Every < 0 || cfg.Window < 0:
		return nil, errors.New("console: Config.Timeout, Every or Window is negative")
	case cfg.Every != 0 && cfg.Every < MinEvery:
		return nil, fmt.Errorf("console: Config.Every %v is less than %v", cfg.Every, MinEvery)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Every == 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: cfg.Timeout, CheckRedirect: NoRedirects}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux()}
	c.mux.HandleFunc("GET /api/config", c.config)
	c.mux.HandleFunc("GET /api/namespaces", c.namespaces)
	c.mux.HandleFunc("GET /api/servers", c.servers)
	c.mux.HandleFunc("GET /api/figures", c.figuresSince)
	c.mux.HandleFunc("POST /api/call", c.call)
	c.mux.HandleFunc("POST /api/admin", c.admin)
	c.mux.Handle("GET /", http.FileServerFS(files))
	c.figures = newFigures(cfg.Cluster, cfg.HTTP, cfg.ServerToken, cfg.Logger, cfg.Every, cfg.Window, min(cfg.Timeout, cfg.Every)) // a server that does not answer does not hold the others back
	return c, nil
}

// Close stops reading the servers' figures.
func (c *Console) Close() { c.figures.close() }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if len(c.cfg.Hosts) > 0 {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if !slices.Contains(c.cfg.Hosts, strings.ToLower(host)) {
			http.Error(w, "the console does not answer to the host "+r.Host, http.StatusMisdirectedRequest)
			return
		}
	}
	if c.cfg.Authenticate != nil && strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/api/config" {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !c.cfg.Authenticate(tok) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a token is required"})
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// Settings is what GET /api/config answers: what the page may offer.
type Settings struct {
	Admin      bool    `json:"admin"`       // the console has an admin token: it offers actions
	AdminToken bool    `json:"admin_token"` // an action wants a token of its own (X-Admin-Token)
	Token      bool    `json:"token"`       // the API wants a token
	Every      float64 `json:"every"`       // seconds between the figures' points
	Window     float64 `json:"window"`      // seconds of them kept
}

func (c *Console) config(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Settings{Admin: c.cfg.AdminToken != "", AdminToken: c.cfg.AdminAuthenticate != nil,
		Token: c.cfg.Authenticate != nil, Every: c.cfg.Every.Seconds(), Window: c.cfg.Window.Seconds()})
}

func (c *Console) figuresSince(w http.ResponseWriter, r *http.Request) {
	seq, err := parseSeq(r.URL.Query().Get("after"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?after=SEQ, a point's seq"})
		return
	}
	writeJSON(w, http.StatusOK, c.figures.since(seq))
}

func (c *Console) namespaces(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	nss, err := Namespaces(ctx, c.cfg.Cluster)
	if err != nil {
		c.cfg.Logger.Warn("console: reading the cluster", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeTagged(w, r, nss)
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

// writeTagged answers v as JSON, with an ETag of its bytes, or 304 Not
// Modified to a request that has them already (If-None-Match): a page
// asking every second reads what changed only.
func writeTagged(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	h := fnv.New64a()
	h.Write(b)
	tag := fmt.Sprintf(`"%x"`, h.Sum64())
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
