package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slacker-lua/slacker-lua/tracectx"
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
	g.mux.HandleFunc("/{ns}/{fn}", g.notAllowed)
	g.mux.HandleFunc("/", g.notFound)
	return g, nil
}

// pathCodec returns the codec the extension of path's last element
// names, or JSON when it names none the gateway serves.
func (g *Gateway) pathCodec(path string) transport.Codec {
	last := path[strings.LastIndexByte(path, '/')+1:]
	if dot := strings.LastIndexByte(last, '.'); dot >= 0 {
		if c := g.codec(last[dot+1:]); c != nil {
			return c
		}
	}
	if c := g.codec("json"); c != nil {
		return c
	}
	return transport.JSON
}

// notFound answers a path the gateway does not serve, in the path's
// content type (JSON if it names none), as a call of a function not
// served is.
func (g *Gateway) notFound(w http.ResponseWriter, r *http.Request) {
	g.fail(w, g.pathCodec(r.URL.Path), http.StatusNotFound, transport.CodeNotFound,
		fmt.Sprintf("nothing is served at %s: a call is a POST to /NAMESPACE/FUNCTION.json (or .clj, .nippy, .msgpack), and GET / lists the functions", r.URL.Path))
}

// notAllowed answers a function's path requested with a method other than
// POST.
func (g *Gateway) notAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	g.fail(w, g.pathCodec(r.URL.Path), http.StatusMethodNotAllowed, transport.CodeInvalidPacket,
		fmt.Sprintf("%s of %s: a call is a POST, with the arguments as an array in the body", r.Method, r.URL.Path))
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if auth := g.cfg.Authenticate; auth != nil {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !auth(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slacker-lua"`)
			msg := "a token is required: send it as Authorization: Bearer TOKEN"
			if ok {
				msg = "the token given in Authorization: Bearer was refused: check it against the server's --token-file"
			}
			g.fail(w, nil, http.StatusUnauthorized, transport.CodeACLReject, msg)
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
	timeout, err := callTimeout(r.Header.Get(TimeoutHeader))
	if err != nil {
		g.fail(w, codec, http.StatusBadRequest, transport.CodeInvalidPacket, err.Error())
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
			msg := fmt.Sprintf("request body larger than the server accepts (at most %d bytes)", g.cfg.MaxBodySize)
			if r.ContentLength > 0 {
				msg = fmt.Sprintf("request body of %d bytes larger than the server accepts (at most %d bytes)", r.ContentLength, g.cfg.MaxBodySize)
			}
			g.fail(w, codec, http.StatusRequestEntityTooLarge, transport.CodeInvalidPacket, msg)
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
			g.fail(w, codec, http.StatusBadRequest, transport.CodeInvalidPacket, badArgs(codec, body, err))
			return
		}
	}
	// A tracestate may come in several headers: one list, in their order.
	ctx := tracectx.With(r.Context(), tracectx.Context{Parent: r.Header.Get("Traceparent"), State: strings.Join(r.Header.Values("Tracestate"), ",")})
	ctx = transport.WithRequestSize(ctx, len(body))
	if g.cfg.Timeout > 0 && (timeout == 0 || g.cfg.Timeout < timeout) {
		timeout = g.cfg.Timeout
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
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

// TimeoutHeader is the header of a call's time: a Go duration, such as
// "1.5s" or "250ms", or a number of seconds. The call is cancelled when
// it runs out, as with the binary protocol's deadline; the server's own
// bounds (Config.Timeout, and the engine's) still apply.
const TimeoutHeader = "X-Slacker-Timeout"

// callTimeout parses the value of a TimeoutHeader; 0 if empty.
func callTimeout(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || secs > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%s: %q: want a duration, such as 1.5s, or seconds", TimeoutHeader, v)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s: %q: want more than 0", TimeoutHeader, v)
	}
	return d, nil
}

// codecNames name the content types in the gateway's answers, with
// their article.
var codecNames = map[transport.ContentType]string{
	transport.ContentJSON:    "a JSON",
	transport.ContentEDN:     "an EDN",
	transport.ContentNippy:   "a nippy",
	transport.ContentMsgpack: "a msgpack",
}

// badArgs says in words what is wrong with a body that did not decode as
// an argument array, err being the decoder's error: what the body is
// instead, for a text body that is one value of another kind, or else
// that it does not decode.
func badArgs(codec transport.Codec, body []byte, err error) string {
	name := codecNames[codec.ContentType()]
	if isText(codec) {
		text := bytes.TrimSpace(body)
		edn := codec.ContentType() == transport.ContentEDN
		var kind string
		numErr := strconv.ErrSyntax
		if len(text) < 64 {
			_, numErr = strconv.ParseFloat(string(text), 64)
		}
		switch word := string(text); {
		case text[0] == '{' && edn:
			kind = "a map"
		case text[0] == '{':
			kind = "an object"
		case text[0] == '"':
			kind = "a string"
		case numErr == nil:
			kind = "a number"
		case word == "true" || word == "false":
			kind = "a boolean"
		case word == "null" || word == "nil":
			kind = word
		}
		if kind != "" {
			return fmt.Sprintf("the body must be %s array of the arguments, such as [1, \"a\"], or [] for none; this one is %s", name, kind)
		}
	}
	msg := strings.TrimPrefix(err.Error(), "transport: ")
	msg = strings.TrimSuffix(strings.TrimPrefix(msg, "json: "), ": unexpected EOF")
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		msg = fmt.Sprintf("%s (at byte %d)", msg, syn.Offset)
	}
	return fmt.Sprintf("the body is not %s array of the arguments: %s", name, msg)
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
