package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
)

// CallRequest is the body of POST /api/call: a call of Function
// ("namespace/function") with Args, on the server at Server, or through
// the cluster client when Server is "".
type CallRequest struct {
	Function string `json:"function"`
	Args     []any  `json:"args"`
	Server   string `json:"server,omitempty"`
}

// CallAnswer is the answer of POST /api/call: the result, or the error
// and its result code (as slacker names them: "not-found", "exception",
// ...; "" for a failure that is not the server's answer, such as a
// server that can't be reached), and how long the call took.
type CallAnswer struct {
	Result any     `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
	Code   string  `json:"code"`
	Millis float64 `json:"ms"`
}

// maxCallBody bounds the body of POST /api/call.
const maxCallBody = 1 << 20

// call runs a CallRequest, from the console's own pages (see decode).
func (c *Console) call(w http.ResponseWriter, r *http.Request) {
	var req CallRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Function == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `bad call: want "function": "namespace/function"`})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Timeout)
	defer cancel()
	writeJSON(w, http.StatusOK, Call(ctx, c.cfg.Cluster, req))
}

// decode decodes the JSON body of r, a request from the console's own
// pages, into v; or answers an error and returns false. It takes only a
// JSON body, and no Origin but the console's: a page of another site can
// send a form, or a text/plain body, to a console on loopback without
// asking first, but not JSON.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "want a JSON body (Content-Type: application/json)"})
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "requests are taken from the console's own pages only"})
			return false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request: " + err.Error()})
		return false
	}
	return true
}

// Call makes the call req through c, as long as ctx allows.
func Call(ctx context.Context, c Cluster, req CallRequest) CallAnswer {
	var caller client.Caller = c
	if req.Server != "" {
		caller = c.With(cluster.Address(req.Server))
	}
	begin := time.Now()
	res, err := caller.Call(ctx, req.Function, req.Args...)
	ans := CallAnswer{Millis: float64(time.Since(begin).Microseconds()) / 1000}
	if err == nil {
		if ans.Result, err = res.Value(); err != nil {
			err = fmt.Errorf("decoding the result: %w", err)
		} else {
			ans.Code = "success"
			return ans
		}
	}
	ans.Error = err.Error()
	var re *client.RemoteError
	switch {
	case errors.As(err, &re):
		ans.Code = re.Code.String()
		if re.Message != "" {
			ans.Error = re.Message
		}
	case errors.Is(err, client.ErrNotFound): // no server has it, as the cluster knows
		ans.Code = "not-found"
	}
	return ans
}
