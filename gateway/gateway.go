package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/transport"
)

// Config configures a Gateway. The zero value works; each field says what
// zero means.
type Config struct {
	// Codecs are the content types served, named by the extension of the
	// path: ".json", ".clj" (or ".edn"), ".nippy", ".msgpack". Nil means
	// transport.DefaultCodecs().
	Codecs []transport.Codec
	// MaxBodySize bounds a request body, in bytes. Zero means
	// transport.DefaultMaxBodySize.
	MaxBodySize int
	// Timeout is the deadline of a call, counted from its request. Zero
	// leaves calls to the handler's own deadline.
	Timeout time.Duration
	// Logger gets the gateway's debug logs. Nil means slog.Default().
	Logger *slog.Logger
	// Authenticate, if set, checks the token of every call and listing,
	// given as "Authorization: Bearer TOKEN": without one it accepts, the
	// answer is 401. Nil lets every request in.
	Authenticate func(token string) bool
}

// Gateway is an http.Handler calling a transport.Handler's functions.
type Gateway struct {
	h   transport.Handler
	cfg Config
	mux *http.ServeMux
	mem transport.MemoryReleaser // returns refused bodies' memory
}

// Validate reports every field of c that is out of range; the constructor calls it.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf("gateway: Config.MaxBodySize %d is negative", c.MaxBodySize))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("gateway: Config.Timeout %v is negative", c.Timeout))
	}
	for _, cd := range c.Codecs {
		if cd == nil {
			errs = append(errs, errors.New("gateway: nil codec in Config.Codecs"))
			break
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns c with its zero fields filled.
func (c Config) withDefaults() Config {
	if c.Codecs == nil {
		c.Codecs = transport.DefaultCodecs()
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = transport.DefaultMaxBodySize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// New returns a gateway to h. It returns an error if h is nil or cfg is
// invalid.
func New(h transport.Handler, cfg Config) (*Gateway, error) {
	if h == nil {
		return nil, errors.New("gateway: nil handler")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{h: h, cfg: cfg.withDefaults(), mux: http.NewServeMux()}
	g.mux.HandleFunc("POST /{ns}/{fn}", g.call)
	g.mux.HandleFunc("GET /{$}", g.inspect)
	g.mux.HandleFunc("GET /_inspect", g.inspect)
	return g, nil
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if auth := g.cfg.Authenticate; auth != nil {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !auth(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slacker-lua"`)
			g.fail(w, nil, http.StatusUnauthorized, transport.CodeACLReject, "a token is required: Authorization: Bearer TOKEN")
			return
		}
	}
	g.mux.ServeHTTP(w, r)
}

// mediaTypes are the Content-Type headers of the answers: slacker's
// gateway's, "application/" and the content type's name.
var mediaTypes = map[transport.ContentType]string{
	transport.ContentJSON:    "application/json",
	transport.ContentEDN:     "application/clj",
	transport.ContentNippy:   "application/nippy",
	transport.ContentMsgpack: "application/msgpack",
}

// codec returns the codec named ext, such as "json", or nil.
func (g *Gateway) codec(ext string) transport.Codec {
	ct, err := transport.ParseContentType(ext)
	if err != nil {
		return nil
	}
	c, _ := transport.CodecFor(g.cfg.Codecs, ct)
	return c
}

func (g *Gateway) call(w http.ResponseWriter, r *http.Request) {
	ns, fn := r.PathValue("ns"), r.PathValue("fn")
	dot := strings.LastIndexByte(fn, '.')
	if dot < 0 {
		g.fail(w, nil, http.StatusBadRequest, transport.CodeInvalidPacket,
			fmt.Sprintf("want /%s/%s.json, .clj, .nippy or .msgpack: the path names the content type", ns, fn))
		return
	}
	fn, ext := fn[:dot], fn[dot+1:]
	codec := g.codec(ext)
	if codec == nil {
		g.fail(w, nil, http.StatusBadRequest, transport.CodeInvalidPacket, fmt.Sprintf("unknown content type %q", ext))
		return
	}
	name := ns + "/" + fn
	if f, ok := g.h.(transport.Finder); ok && !f.Has(name) {
		// Answered before the body is read or decoded.
		g.failed(w, codec, transport.NotServed(r.Context(), g.h, name))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(g.cfg.MaxBodySize)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			g.fail(w, codec, http.StatusRequestEntityTooLarge, transport.CodeInvalidPacket,
				fmt.Sprintf("body larger than %d bytes", g.cfg.MaxBodySize))
			return
		}
		g.cfg.Logger.Debug("gateway: reading a request", "path", r.URL.Path, "err", err)
		g.fail(w, codec, http.StatusBadRequest, transport.CodeInvalidPacket, "cannot read the body: "+err.Error())
		return
	}
	var args []any
	if empty := len(body) == 0 || isText(codec) && len(bytes.TrimSpace(body)) == 0; !empty {
		if args, err = transport.DecodeArgs(codec, body, transport.DecodeBudget(len(body))); err != nil {
			if errors.Is(err, transport.ErrBodyTooComplex) {
				g.fail(w, codec, http.StatusRequestEntityTooLarge, transport.CodeException, err.Error())
				size := len(body)
				body = nil
				g.mem.After(size)
				return
			}
			g.fail(w, codec, http.StatusBadRequest, transport.CodeInvalidPacket, "the body is not an argument array: "+err.Error())
			return
		}
	}
	ctx := r.Context()
	if g.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.cfg.Timeout)
		defer cancel()
	}
	res, err := g.h.Call(ctx, name, args)
	if err == nil {
		out, merr := codec.Marshal(res)
		if merr != nil {
			g.fail(w, codec, http.StatusInternalServerError, transport.CodeException, "cannot encode the result: "+merr.Error())
			return
		}
		w.Header().Set("Content-Type", mediaTypes[codec.ContentType()])
		w.Header().Set("X-Slacker-Code", transport.CodeSuccess.String())
		w.Write(out)
		return
	}
	g.failed(w, codec, err)
}

// isText says whether codec's bodies are text, which may be only space
// when there are no arguments.
func isText(codec transport.Codec) bool {
	ct := codec.ContentType()
	return ct == transport.ContentJSON || ct == transport.ContentEDN
}

// failed answers the error of a call, with the status of its code.
func (g *Gateway) failed(w http.ResponseWriter, codec transport.Codec, err error) {
	code := transport.CodeOf(err)
	status := http.StatusInternalServerError
	switch code {
	case transport.CodeNotFound:
		status = http.StatusNotFound
	case transport.CodeThreadPoolFull:
		status = http.StatusServiceUnavailable
	case transport.CodeCanceled:
		status = http.StatusGatewayTimeout
	case transport.CodeACLReject:
		status = http.StatusForbidden
	case transport.CodeException:
	default:
		status = http.StatusBadRequest
	}
	g.fail(w, codec, status, code, err.Error())
}

// fail answers status with msg, serialized by codec, or as plain text
// without one.
func (g *Gateway) fail(w http.ResponseWriter, codec transport.Codec, status int, code transport.Code, msg string) {
	h := w.Header()
	h.Set("X-Slacker-Code", code.String())
	h.Set("X-Content-Type-Options", "nosniff")
	if codec != nil {
		if b, err := codec.Marshal(msg); err == nil {
			h.Set("Content-Type", mediaTypes[codec.ContentType()])
			w.WriteHeader(status)
			w.Write(b)
			return
		}
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// Function is a served function as GET / lists it.
type Function struct {
	Name   string   `json:"name"` // "namespace/function"
	Params []string `json:"params"`
	Doc    string   `json:"doc,omitempty"`
}

func (g *Gateway) inspect(w http.ResponseWriter, r *http.Request) {
	fns := []Function{}
	for _, name := range g.h.Functions("") {
		m, ok := g.h.Meta(name)
		if !ok {
			continue // gone since listed
		}
		params := m.Params
		if params == nil {
			params = []string{}
		}
		fns = append(fns, Function{Name: m.Name, Params: params, Doc: m.Doc})
	}
	b, err := transport.JSON.Marshal(map[string]any{"functions": fns})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
