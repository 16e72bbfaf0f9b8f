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
	Addr      string    `json:"addr"`
	Version   string    `json:"version"` // of the server's software
	StartedAt time.Time `json:"started_at"`
	Weight    int       `json:"weight"`
	HTTP      string    `json:"http,omitempty"` // its HTTP listener's URL
	// Offline is true while an operator has taken the server out of the
	// cluster, and OfflineNamespaces names the namespaces taken out one
	// by one.
	Offline           bool           `json:"offline,omitempty"`
	OfflineNamespaces []string       `json:"offline_namespaces,omitempty"`
	Data              map[string]any `json:"data,omitempty"`
	Registered        bool           `json:"registered"` // it has a server node
	Namespaces        []string       `json:"namespaces"`
}

func (c *Console) servers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	nss, err := Namespaces(ctx, c.cfg.Cluster)
	if err == nil {
		var servers []ServerInfo
		if servers, err = Servers(ctx, c.cfg.Cluster, nss); err == nil {
			writeTagged(w, r, servers)
			return
		}
	}
	c.cfg.Logger.Warn("console: reading the cluster", "err", err)
	writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
}

// Servers reads the data of every server registered, and of every server
// of the namespaces nss, sorted by address, as long as ctx allows.
func Servers(ctx context.Context, c Cluster, nss []Namespace) ([]ServerInfo, error) {
	addrs, err := c.ServerAddrs(ctx)
	if err != nil {
		return nil, err
	}
	served := map[string][]string{}
	for _, addr := range addrs {
		served[addr] = nil
	}
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
	return ServerInfo{Addr: addr, Version: d.Version, StartedAt: d.StartedAt, Weight: w, HTTP: d.HTTP,
		Offline: d.Offline, OfflineNamespaces: d.OfflineNamespaces, Data: d.Data, Registered: ok,
		Namespaces: append([]string{}, slices.Sorted(slices.Values(nss))...)}
}
