package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/slacker-lua/slacker-lua/namespaces"
)

// Figure is what a server, a namespace or the whole cluster did between
// two scrapes of the servers' /metrics. Zero fields are left out of the
// JSON, and a figure that is all zeros is left out of its [Point].
type Figure struct {
	Calls    float64 `json:"calls,omitempty"`    // calls answered, per second
	Errors   float64 `json:"errors,omitempty"`   // of them, those not successful, per second
	P50      float64 `json:"p50,omitempty"`      // the calls' median time, in milliseconds
	P99      float64 `json:"p99,omitempty"`      // their 99th percentile, in milliseconds
	InFlight float64 `json:"inflight,omitempty"` // calls running or waiting, at the scrape
}

// Point is one scrape of every server's /metrics, set against the scrape
// before it.
type Point struct {
	Seq        int64             `json:"seq"` // counts the points from 1
	T          int64             `json:"t"`   // when, in milliseconds since 1970
	Cluster    Figure            `json:"cluster"`
	Servers    map[string]Figure `json:"servers,omitempty"`    // by address
	Namespaces map[string]Figure `json:"namespaces,omitempty"` // by name
}

// Failure is a namespace file that fails to load on a server, as its
// status namespace tells.
type Failure struct {
	File      string `json:"file"`
	Namespace string `json:"namespace"`
	Error     string `json:"error"` // with file and line
}

// Figures is what GET /api/figures answers.
type Figures struct {
	Every  float64 `json:"every"`           // seconds between points
	Seq    int64   `json:"seq"`             // the last point's; a page that has later ones was of a console since restarted
	Error  string  `json:"error,omitempty"` // why the last round could not list the servers
	Points []Point `json:"points"`
	// Failures are, for each server that has some, its files failing to
	// load; Unreachable names each server whose figures, or files failing
	// to load, could not be read at the last scrape, with why.
	Failures    map[string][]Failure `json:"failures"`
	Unreachable map[string]string    `json:"unreachable"`
}

// scrape is what a server's /metrics said, at a time.
type scrape struct {
	at       time.Time
	started  time.Time            // when the server says it started
	calls    map[string]float64   // calls counted, by namespace
	errors   map[string]float64   // calls not successful, by namespace
	buckets  map[string][]float64 // cumulative counts of the duration histogram, by namespace, as bounds
	pending  map[string]float64   // calls pending, by namespace
	inFlight float64
	bounds   bounds // of buckets
}

// bounds are the upper bounds of the duration histogram's buckets, in
// seconds, +Inf last.
type bounds []float64

// figures scrapes the /metrics of every server that publishes an HTTP
// address, every interval, and keeps the points of the last window.
type figures struct {
	cluster Cluster
	http    *http.Client
	token   string // given to the servers' gateways
	log     *slog.Logger
	every   time.Duration
	keep    int
	timeout time.Duration   // of a server's scrape
	ctx     context.Context // done when closed
	cancel  context.CancelFunc
	done    chan struct{} // closed when loop returns

	mu       sync.Mutex
	points   []Point // the last keep, oldest first
	seq      int64
	last     map[string]*scrape // by server
	failures map[string][]Failure
	down     map[string]string
	err      string // why the servers could not be listed, at the last round
}

func newFigures(c Cluster, hc *http.Client, token string, log *slog.Logger, every, window, timeout time.Duration) *figures {
	f := &figures{cluster: c, http: hc, token: token, log: log, every: every, keep: max(int(window/every), 2), timeout: timeout,
		done: make(chan struct{}), last: map[string]*scrape{}, failures: map[string][]Failure{}, down: map[string]string{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	go f.loop()
	return f
}

// close stops the scrapes, the one running cut short, and waits for it.
func (f *figures) close() {
	f.cancel()
	<-f.done
}

func (f *figures) loop() {
	defer close(f.done)
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		f.scrapeAll(f.ctx)
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// result is what a round learnt of a server.
type result struct {
	addr     string
	s        *scrape
	failures []Failure
	err      error // the figures could not be read
	note     error // they were, the files failing to load not
}

// scrapeAll scrapes every server once, at most 8 at a time, each within
// the scrape's timeout, and adds the point they make.
func (f *figures) scrapeAll(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, f.timeout)
	addrs, err := f.cluster.ServerAddrs(lctx)
	cancel()
	if err != nil {
		f.mu.Lock()
		if f.err == "" {
			f.log.Warn("console: cannot list the servers for their figures", "err", err)
		}
		f.err = "cannot list the servers: " + err.Error()
		f.mu.Unlock()
		return
	}
	results := make([]result, len(addrs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = result{addr: addr, err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			results[i] = f.scrapeServer(sctx, addr)
		}()
	}
	wg.Wait()
	f.add(results)
}

// scrapeServer reads the figures and the files failing to load of the
// server at addr.
func (f *figures) scrapeServer(ctx context.Context, addr string) result {
	r := result{addr: addr}
	d, ok, err := f.cluster.ServerData(ctx, addr)
	switch {
	case err != nil:
		r.err = err
	case !ok:
		r.err = errGone
	case d.HTTP == "":
		r.err = errNoHTTP
	default:
		if r.s, r.err = f.scrapeOne(ctx, d.HTTP); r.err == nil {
			r.s.started = d.StartedAt
			r.failures, r.note = f.failuresOf(ctx, addr, d.HTTP)
		}
	}
	return r
}

// add adds the point the results of a round make, each server's set
// against its scrape of the round before.
func (f *figures) add(results []result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = ""
	p := Point{T: time.Now().UnixMilli(), Servers: map[string]Figure{}, Namespaces: map[string]Figure{}}
	// The namespaces' and the cluster's quantiles are of the servers whose
	// histogram has the bounds of the round's first: those of another
	// build are counted, but left out of them.
	var ref bounds
	nsBuckets := map[string][]float64{}
	var all []float64
	clear(f.failures)
	clear(f.down)
	seen := map[string]bool{}
	for _, r := range results {
		seen[r.addr] = true
		if r.err != nil {
			if !errors.Is(r.err, errGone) {
				f.down[r.addr] = r.err.Error()
			}
			delete(f.last, r.addr)
			continue
		}
		if len(r.failures) > 0 {
			f.failures[r.addr] = r.failures
		}
		if r.note != nil {
			f.down[r.addr] = r.note.Error()
		}
		prev := f.last[r.addr]
		f.last[r.addr] = r.s
		if prev == nil || restarted(prev, r.s) {
			continue // nothing to set this scrape against
		}
		dt := r.s.at.Sub(prev.at).Seconds()
		if ref == nil {
			ref = r.s.bounds
		}
		inRef := slices.Equal(r.s.bounds, ref)
		var srv Figure
		var srvBuckets []float64
		for ns := range r.s.calls {
			calls, errs := (r.s.calls[ns]-prev.calls[ns])/dt, (r.s.errors[ns]-prev.errors[ns])/dt
			b := deltas(r.s.buckets[ns], prev.buckets[ns])
			nf := p.Namespaces[ns]
			nf.Calls += calls
			nf.Errors += errs
			p.Namespaces[ns] = nf
			srvBuckets = add(srvBuckets, b)
			if inRef {
				nsBuckets[ns] = add(nsBuckets[ns], b)
			}
			srv.Calls += calls
			srv.Errors += errs
		}
		for ns, n := range r.s.pending {
			nf := p.Namespaces[ns]
			nf.InFlight += n
			p.Namespaces[ns] = nf
		}
		srv.InFlight = r.s.inFlight
		srv.P50, srv.P99 = r.s.bounds.quantile(srvBuckets, .5), r.s.bounds.quantile(srvBuckets, .99)
		if inRef {
			all = add(all, srvBuckets)
		}
		p.Cluster.Calls += srv.Calls
		p.Cluster.Errors += srv.Errors
		p.Cluster.InFlight += srv.InFlight
		p.Servers[r.addr] = srv
	}
	for addr := range f.last {
		if !seen[addr] {
			delete(f.last, addr)
		}
	}
	for ns, nf := range p.Namespaces {
		nf.P50, nf.P99 = ref.quantile(nsBuckets[ns], .5), ref.quantile(nsBuckets[ns], .99)
		p.Namespaces[ns] = nf
	}
	p.Cluster.P50, p.Cluster.P99 = ref.quantile(all, .5), ref.quantile(all, .99)
	maps.DeleteFunc(p.Servers, func(_ string, v Figure) bool { return v == Figure{} })
	maps.DeleteFunc(p.Namespaces, func(_ string, v Figure) bool { return v == Figure{} })
	f.seq++
	p.Seq = f.seq
	f.points = append(f.points, p)
	if len(f.points) > f.keep {
		f.points = slices.Delete(f.points, 0, len(f.points)-f.keep)
	}
}

// restarted reports whether the server restarted between the scrapes
// prev and cur: it says it started at another time, or a counter went
// down, or its histogram changed. Its counters then count from zero.
func restarted(prev, cur *scrape) bool {
	if !prev.started.Equal(cur.started) || !slices.Equal(prev.bounds, cur.bounds) {
		return true
	}
	for ns, n := range prev.calls {
		if cur.calls[ns] < n || cur.errors[ns] < prev.errors[ns] {
			return true
		}
		for i, c := range prev.buckets[ns] {
			if i >= len(cur.buckets[ns]) || cur.buckets[ns][i] < c {
				return true
			}
		}
	}
	return false
}

var (
	errGone   = errors.New("no server node")
	errNoHTTP = errors.New("publishes no HTTP address: serve it with --http for its figures")
)

// since returns the figures, with the points after seq.
func (f *figures) since(seq int64) Figures {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := Figures{Every: f.every.Seconds(), Seq: f.seq, Error: f.err, Points: []Point{}, Failures: map[string][]Failure{}, Unreachable: map[string]string{}}
	for _, p := range f.points {
		if p.Seq > seq {
			out.Points = append(out.Points, p)
		}
	}
	maps.Copy(out.Failures, f.failures)
	maps.Copy(out.Unreachable, f.down)
	return out
}

// maxMetrics bounds the /metrics page read from a server.
const maxMetrics = 8 << 20

// send sends a request of url, with body as JSON if not nil, and token,
// if not "", as "Authorization: Bearer".
func send(ctx context.Context, hc *http.Client, token, method, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return hc.Do(req)
}

// fetch sends a request of url, as send does, with token, and returns
// the answer's body, of at most maxMetrics bytes, if it is 200 OK.
func (f *figures) fetch(ctx context.Context, token, method, url string, body []byte) ([]byte, error) {
	resp, err := send(ctx, f.http, token, method, url, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	b, err := readAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	return b, nil
}

// readAll reads r to its end, and at most maxMetrics bytes of it.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMetrics+1))
	if err == nil && len(b) > maxMetrics {
		err = fmt.Errorf("an answer larger than %d MiB", maxMetrics>>20)
	}
	return b, err
}

// scrapeOne reads the /metrics of the server whose HTTP listener is at
// base.
func (f *figures) scrapeOne(ctx context.Context, base string) (*scrape, error) {
	page, err := f.fetch(ctx, "", http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return nil, fmt.Errorf("GET %s/metrics: %w", base, err)
	}
	s := &scrape{at: time.Now(), calls: map[string]float64{}, errors: map[string]float64{}, buckets: map[string][]float64{}, pending: map[string]float64{}}
	if fam := fams["slacker_calls_total"]; fam != nil {
		for _, m := range fam.GetMetric() {
			ns := label(m, "namespace")
			if ns == "" || ns == namespaces.StatusNamespace {
				continue // calls of nothing served; the console's own
			}
			n := m.GetCounter().GetValue()
			s.calls[ns] += n
			if label(m, "code") != "success" {
				s.errors[ns] += n
			}
		}
	}
	if fam := fams["slacker_call_duration_seconds"]; fam != nil {
		for _, m := range fam.GetMetric() {
			ns := label(m, "namespace")
			if ns == namespaces.StatusNamespace {
				continue
			}
			h := m.GetHistogram()
			var hb bounds
			var cum []float64
			for _, b := range h.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					hb = append(hb, b.GetUpperBound())
					cum = append(cum, float64(b.GetCumulativeCount()))
				}
			}
			if len(hb) == 0 {
				continue // no bound to place a call by
			}
			hb, cum = append(hb, math.Inf(1)), append(cum, float64(h.GetSampleCount()))
			if s.bounds == nil {
				s.bounds = hb
			}
			if !slices.Equal(hb, s.bounds) {
				continue
			}
			s.buckets[ns] = add(s.buckets[ns], cum)
		}
	}
	if fam := fams["slacker_namespace_pending_calls"]; fam != nil {
		for _, m := range fam.GetMetric() {
			s.pending[label(m, "namespace")] = m.GetGauge().GetValue()
		}
	}
	if fam := fams["slacker_calls_in_flight"]; fam != nil && len(fam.GetMetric()) > 0 {
		s.inFlight = fam.GetMetric()[0].GetGauge().GetValue()
	}
	return s, nil
}

// failuresOf asks the status namespace of the server at addr, whose HTTP
// listener is at base, for its files failing to load: with the console's
// token for the servers if base is on addr's host (see sameHost).
func (f *figures) failuresOf(ctx context.Context, addr, base string) ([]Failure, error) {
	token := f.token
	if !sameHost(addr, base) {
		token = ""
	}
	body, err := f.fetch(ctx, token, http.MethodPost, base+"/"+namespaces.StatusNamespace+"/failures.json", []byte("[]"))
	if err != nil {
		return nil, fmt.Errorf("asking for the files failing to load: %w", err)
	}
	var out []Failure
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("asking for the files failing to load: %w", err)
	}
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// deltas is the increase of each bucket from prev to cur, the server not
// restarted since (see restarted).
func deltas(cur, prev []float64) []float64 {
	out := make([]float64, len(cur))
	for i := range cur {
		out[i] = cur[i]
		if i < len(prev) {
			out[i] -= prev[i]
		}
	}
	return out
}

// add adds b to a, bucket by bucket, growing a as needed.
func add(a, b []float64) []float64 {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

// quantile estimates the q-quantile of the calls counted in the
// cumulative buckets cum, in milliseconds, as Prometheus'
// histogram_quantile does: linearly within the bucket it falls in. It is
// 0 without calls; a quantile in the +Inf bucket is the largest bound.
func (b bounds) quantile(cum []float64, q float64) float64 {
	if len(b) < 2 || len(cum) != len(b) || cum[len(cum)-1] <= 0 {
		return 0 // no calls, or no bound
	}
	rank := q * cum[len(cum)-1]
	i, _ := slices.BinarySearchFunc(cum, rank, func(c, r float64) int {
		if c < r {
			return -1
		}
		return 1
	})
	if i >= len(b)-1 {
		return b[len(b)-2] * 1000
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = b[i-1], cum[i-1]
	}
	in := cum[i] - below
	if in <= 0 {
		return b[i] * 1000
	}
	v := lo + (b[i]-lo)*(rank-below)/in
	return math.Round(v*1e6) / 1e3
}

// parseSeq reads the ?after= of a request for figures: 0 if absent.
func parseSeq(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}
