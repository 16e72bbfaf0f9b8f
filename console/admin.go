package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Action is the body of POST /api/admin: an operator's action on the
// server at Server, through its admin endpoints, as `slacker-lua admin`
// takes it: "offline" or "online", of the whole server or of the
// namespace Namespace, or "weight", to Weight.
type Action struct {
	Server    string `json:"server"`
	Action    string `json:"action"`
	Namespace string `json:"namespace,omitempty"`
	Weight    int    `json:"weight,omitempty"`
}

// ActionAnswer is the answer of POST /api/admin: what the server says is
// offline and its weight after the action (its GET /_admin/state), or why
// the action failed.
type ActionAnswer struct {
	State json.RawMessage `json:"state,omitempty"`
	Error string          `json:"error,omitempty"`
}

// admin runs an Action, from the console's own pages (see decode), if
// the console has an admin token, and the request one that
// Config.AdminAuthenticate accepts.
func (c *Console) admin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.AdminToken == "" {
		writeJSON(w, http.StatusForbidden, ActionAnswer{Error: "the console has no admin token (slacker-lua console --admin-token-file)"})
		return
	}
	if c.cfg.AdminAuthenticate != nil && !c.cfg.AdminAuthenticate(r.Header.Get("X-Admin-Token")) {
		writeJSON(w, http.StatusForbidden, ActionAnswer{Error: "an action wants an admin token (X-Admin-Token): one of the console's --admin-token-file"})
		return
	}
	var a Action
	if !decode(w, r, &a) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	state, code, err := c.act(ctx, a)
	if err != nil {
		c.cfg.Logger.Warn("console: action failed", "server", a.Server, "action", a.Action, "namespace", a.Namespace, "err", err)
		writeJSON(w, code, ActionAnswer{Error: err.Error()})
		return
	}
	c.cfg.Logger.Info("console: action", "server", a.Server, "action", a.Action, "namespace", a.Namespace, "weight", a.Weight)
	writeJSON(w, http.StatusOK, ActionAnswer{State: state})
}

// sameHost reports whether the URL u is on the host of addr, host:port:
// the console gives its tokens to the HTTP listener a server publishes
// only there, so that a node written in ZooKeeper by someone else can't
// draw them elsewhere.
func sameHost(addr, u string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := url.Parse(u)
	return err == nil && strings.EqualFold(p.Hostname(), strings.Trim(host, "[]"))
}

// act sends the action a to its server's admin endpoint, and returns the
// server's state after it, or an error with the HTTP status to answer.
func (c *Console) act(ctx context.Context, a Action) (json.RawMessage, int, error) {
	q := url.Values{}
	switch a.Action {
	case "offline", "online":
		if a.Namespace != "" {
			q.Set("namespace", a.Namespace)
		}
	case "weight":
		if a.Weight < 0 {
			return nil, http.StatusBadRequest, fmt.Errorf("weight %d is negative", a.Weight)
		}
		q.Set("value", strconv.Itoa(a.Weight))
	default:
		return nil, http.StatusBadRequest, fmt.Errorf(`action %q: want "offline", "online" or "weight"`, a.Action)
	}
	d, ok, err := c.cfg.Cluster.ServerData(ctx, a.Server)
	switch {
	case err != nil:
		return nil, http.StatusBadGateway, err
	case !ok:
		return nil, http.StatusNotFound, fmt.Errorf("no server %s is registered", a.Server)
	case d.HTTP == "":
		return nil, http.StatusConflict, fmt.Errorf("server %s publishes no HTTP address: serve it with --http and --admin-token-file", a.Server)
	case !sameHost(a.Server, d.HTTP):
		return nil, http.StatusConflict, fmt.Errorf("server %s publishes an HTTP address on another host, %s: the console gives its admin token to the server's own host only", a.Server, d.HTTP)
	}
	u := d.HTTP + "/_admin/" + a.Action
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := send(ctx, c.cfg.HTTP, c.cfg.AdminToken, http.MethodPost, u, nil)
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCallBody))
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, http.StatusBadGateway, fmt.Errorf("server %s: %s: %s", a.Server, resp.Status, strings.TrimSpace(string(body)))
	}
	if !json.Valid(body) {
		return nil, http.StatusBadGateway, fmt.Errorf("server %s answered no JSON", a.Server)
	}
	return body, 0, nil
}
