package console

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// do sends a request to h and returns the answer's status and body.
func do(h http.Handler, method, target, body string, header ...string) (int, string) {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			r.Host = header[i+1]
			continue
		}
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

func newConsole(t *testing.T, cfg Config) *Console {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestHosts checks that a console with Hosts answers to those names only,
// whatever the port, so that a page served under another name that
// resolves to loopback can't read it.
func TestHosts(t *testing.T) {
	c := newConsole(t, Config{Cluster: fakeCluster{}, Hosts: LoopbackHosts()})
	for host, want := range map[string]int{
		"127.0.0.1:7": http.StatusOK, "localhost": http.StatusOK, "LocalHost:80": http.StatusOK, "[::1]:9": http.StatusOK,
		"evil.example": http.StatusMisdirectedRequest, "evil.example:7": http.StatusMisdirectedRequest, "127.0.0.2:7": http.StatusMisdirectedRequest,
	} {
		if code, _ := do(c, "GET", "/api/config", "", "Host", host); code != want {
			t.Errorf("Host %s: %d, want %d", host, code, want)
		}
	}
}

// TestToken checks that a console with Authenticate wants a token for
// the cluster's data, not for its page or its settings.
func TestToken(t *testing.T) {
	c := newConsole(t, Config{Cluster: fakeCluster{}, Authenticate: func(tok string) bool { return tok == "s3cret" }})
	for _, tc := range []struct {
		method, path, body, token string
		want                      int
	}{
		{"GET", "/", "", "", http.StatusOK},
		{"GET", "/app.js", "", "", http.StatusOK},
		{"GET", "/api/config", "", "", http.StatusOK},
		{"GET", "/api/namespaces", "", "", http.StatusUnauthorized},
		{"GET", "/api/namespaces", "", "wrong", http.StatusUnauthorized},
		{"GET", "/api/namespaces", "", "s3cret", http.StatusOK},
		{"GET", "/api/figures", "", "", http.StatusUnauthorized},
		{"POST", "/api/call", `{"function": "math/add"}`, "", http.StatusUnauthorized},
		{"POST", "/api/call", `{"function": "math/add"}`, "s3cret", http.StatusOK},
	} {
		h := []string{"Content-Type", "application/json"}
		if tc.token != "" {
			h = append(h, "Authorization", "Bearer "+tc.token)
		}
		if code, body := do(c, tc.method, tc.path, tc.body, h...); code != tc.want {
			t.Errorf("%s %s with token %q: %d %s, want %d", tc.method, tc.path, tc.token, code, body, tc.want)
		}
	}
	if _, body := do(c, "GET", "/api/config", ""); !strings.Contains(body, `"token":true`) || !strings.Contains(body, `"admin":false`) {
		t.Errorf("settings: %s", body)
	}
}

// TestAdmin checks that the console sends an operator's action to the
// server's own admin endpoint, at the address it publishes, with the
// console's admin token; and that it offers none without one.
func TestAdmin(t *testing.T) {
	a := newFakeServer(t)
	cl := fakeCluster{http: map[string]string{"127.0.0.1:1": a.URL, "127.0.0.1:3": "", "192.0.2.1:1": a.URL}}
	json := []string{"Content-Type", "application/json"}
	if code, body := do(newConsole(t, Config{Cluster: cl}), "POST", "/api/admin", `{"server": "127.0.0.1:1", "action": "offline"}`, json...); code != http.StatusForbidden || !strings.Contains(body, "--admin-token-file") {
		t.Errorf("without an admin token: %d %s", code, body)
	}
	c := newConsole(t, Config{Cluster: cl, AdminToken: "op3rator"})
	for _, tc := range []struct {
		body string
		want int
		sent string // the request a gets, if any
	}{
		{`{"server": "127.0.0.1:1", "action": "offline"}`, http.StatusOK, "POST /_admin/offline Bearer op3rator"},
		{`{"server": "127.0.0.1:1", "action": "online", "namespace": "math"}`, http.StatusOK, "POST /_admin/online?namespace=math Bearer op3rator"},
		{`{"server": "127.0.0.1:1", "action": "weight", "weight": 3}`, http.StatusOK, "POST /_admin/weight?value=3 Bearer op3rator"},
		{`{"server": "127.0.0.1:1", "action": "weight", "weight": -1}`, http.StatusBadRequest, ""},
		{`{"server": "127.0.0.1:1", "action": "reboot"}`, http.StatusBadRequest, ""},
		{`{"server": "127.0.0.1:2", "action": "offline"}`, http.StatusNotFound, ""},
		{`{"server": "127.0.0.1:3", "action": "offline"}`, http.StatusConflict, ""},
		{`{"server": "127.0.0.1:1", "action": "offline", "url": "http://elsewhere"}`, http.StatusBadRequest, ""},
		{`{"server": "192.0.2.1:1", "action": "offline"}`, http.StatusConflict, ""}, // its HTTP address on another host: not given the token
	} {
		a.mu.Lock()
		a.admin = nil
		a.mu.Unlock()
		code, body := do(c, "POST", "/api/admin", tc.body, json...)
		a.mu.Lock()
		sent := a.admin
		a.mu.Unlock()
		if code != tc.want || tc.sent != "" && !slices.Equal(sent, []string{tc.sent}) || tc.sent == "" && len(sent) > 0 {
			t.Errorf("%s: %d %s, the server got %q; want %d and %q", tc.body, code, body, sent, tc.want, tc.sent)
		}
	}
	// With AdminAuthenticate, an action wants a token of its own.
	guarded := newConsole(t, Config{Cluster: cl, AdminToken: "op3rator", AdminAuthenticate: func(tok string) bool { return tok == "mine" }})
	for tok, want := range map[string]int{"": http.StatusForbidden, "wrong": http.StatusForbidden, "mine": http.StatusOK} {
		if code, body := do(guarded, "POST", "/api/admin", `{"server": "127.0.0.1:1", "action": "online"}`, "Content-Type", "application/json", "X-Admin-Token", tok); code != want {
			t.Errorf("an action with the admin token %q: %d %s, want %d", tok, code, body, want)
		}
	}
	if code, _ := do(c, "POST", "/api/admin", `{"server": "127.0.0.1:1", "action": "offline"}`, "Content-Type", "application/json", "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("an action from another site's page: %d, want 403", code)
	}
	if code, _ := do(c, "POST", "/api/admin", `{"server": "127.0.0.1:1", "action": "offline"}`, "Content-Type", "text/plain"); code != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain action: %d, want 415", code)
	}
}

// TestNotModified checks that what a page asks for every second comes
// with an ETag, and that asking again with it, unchanged, reads nothing.
func TestNotModified(t *testing.T) {
	c := newConsole(t, Config{Cluster: fakeCluster{http: map[string]string{"a:1": ""}}})
	for _, path := range []string{"/api/namespaces", "/api/servers"} {
		r := httptest.NewRequest("GET", path, nil)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		tag := w.Header().Get("ETag")
		if w.Code != http.StatusOK || tag == "" || w.Body.Len() == 0 {
			t.Fatalf("GET %s: %d, ETag %q, %d bytes", path, w.Code, tag, w.Body.Len())
		}
		if code, body := do(c, "GET", path, "", "If-None-Match", tag); code != http.StatusNotModified || body != "" {
			t.Errorf("GET %s again, unchanged: %d, %q", path, code, body)
		}
		if code, _ := do(c, "GET", path, "", "If-None-Match", `"other"`); code != http.StatusOK {
			t.Errorf("GET %s with another ETag: %d", path, code)
		}
	}
}

func TestSameHost(t *testing.T) {
	for _, tc := range []struct {
		addr, url string
		want      bool
	}{
		{"127.0.0.1:7", "http://127.0.0.1:9", true},
		{"h.example:2104", "https://H.example:8443", true},
		{"[fd00::1]:2104", "http://[fd00::1]:8080", true},
		{"127.0.0.1:7", "http://127.0.0.2:9", false},
		{"h.example:2104", "http://h.example.evil:80", false},
		{"nonsense", "http://nonsense", false},
	} {
		if got := sameHost(tc.addr, tc.url); got != tc.want {
			t.Errorf("sameHost(%s, %s) = %v", tc.addr, tc.url, got)
		}
	}
}

func TestNewGateway(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:9", "ftp://h:1", "http://", "http://h:1/path"} {
		if _, err := NewGateway(bad, http.DefaultClient, ""); err == nil {
			t.Errorf("NewGateway(%q): no error", bad)
		}
	}
	for url, addr := range map[string]string{"http://h:8080": "h:8080", "http://h:8080/": "h:8080", "http://h": "h:80", "https://h": "h:443"} {
		g, err := NewGateway(url, http.DefaultClient, "")
		if err != nil || g.addr != addr {
			t.Errorf("NewGateway(%q): addr %v, %v; want %s", url, g, err, addr)
		}
	}
}

// TestNoRedirect checks that an admin endpoint that redirects does not
// draw the admin token elsewhere.
func TestNoRedirect(t *testing.T) {
	elsewhere := newFakeServer(t)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.URL+"/_admin/offline", http.StatusTemporaryRedirect))
	defer redirect.Close()
	c := newConsole(t, Config{Cluster: fakeCluster{http: map[string]string{"127.0.0.1:1": redirect.URL}}, AdminToken: "op3rator"})
	code, _ := do(c, "POST", "/api/admin", `{"server": "127.0.0.1:1", "action": "offline"}`, "Content-Type", "application/json")
	elsewhere.mu.Lock()
	defer elsewhere.mu.Unlock()
	if code == http.StatusOK || len(elsewhere.admin) > 0 {
		t.Errorf("a redirected action: %d, and %v got there", code, elsewhere.admin)
	}
}
