package console

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/slacker-lua/slacker-lua/cluster"
)

// ServerInfo is a server as the console shows it: what it publishes in
// ZooKeeper, and the namespaces it serves.
type ServerInfo struct {
	Addr       string         `json:"addr"`
	Version    string         `json:"version"` // of the server's software
	StartedAt  time.Time      `json:"started_at"`
	Weight     int            `json:"weight"`
	Data       map[string]any `json:"data,omitempty"`
	Registered bool           `json:"registered"` // it has a server node
	Namespaces []string       `json:"namespaces"`
}

func (h *handler) servers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	nss, err := Namespaces(ctx, h.cfg.Cluster)
	if err == nil {
		var servers []ServerInfo
		if servers, err = Servers(ctx, h.cfg.Cluster, nss); err == nil {
			writeJSON(w, http.StatusOK, servers)
			return
		}
	}
	h.cfg.Logger.Warn("console: reading the cluster", "err", err)
	writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
}

// Servers reads the data of every server of the namespaces nss, sorted by
// address, as long as ctx allows.
func Servers(ctx context.Context, c Cluster, nss []Namespace) ([]ServerInfo, error) {
	served := map[string][]string{}
	for _, ns := range nss {
		for _, s := range ns.Servers {
			served[s.Addr] = append(served[s.Addr], ns.Name)
		}
	}
	out := make([]ServerInfo, 0, len(served))
	for _, addr := range slices.Sorted(maps.Keys(served)) {
		d, ok, err := c.ServerData(ctx, addr)
		if err != nil {
			return nil, err
		}
		out = append(out, info(addr, d, ok, served[addr]))
	}
	return out, nil
}

func info(addr string, d cluster.ServerData, ok bool, nss []string) ServerInfo {
	w := d.Weight
	if w < 1 {
		w = 1
	}
	return ServerInfo{Addr: addr, Version: d.Version, StartedAt: d.StartedAt, Weight: w, Data: d.Data, Registered: ok, Namespaces: slices.Sorted(slices.Values(nss))}
}
