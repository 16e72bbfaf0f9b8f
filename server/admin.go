package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
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
//	POST /_admin/online[?namespace=NS]   put it back; without a namespace,
//	                                     put everything back, the namespaces
//	                                     taken offline one by one included
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
