// Package headless drives Debian's chromium, headless, for the tests of
// the web console: it starts the browser with --remote-debugging-pipe and
// speaks the DevTools protocol over that pipe (JSON messages ended by a
// NUL byte, no WebSocket), with the few commands the tests need: open a
// page, evaluate JavaScript in it, and take a screenshot.
package headless

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the names chromium is looked for under, in $PATH.
var Binaries = []string{"chromium", "chromium-browser", "google-chrome"}

// Browser is a headless chromium, driven over its DevTools pipe.
type Browser struct {
	cmd  *exec.Cmd
	in   *os.File // the browser reads commands from it
	done chan struct{}

	mu      sync.Mutex
	next    int64
	waiting map[int64]chan reply
	err     error // why the pipe closed, once it did
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Start starts a headless chromium, closed when the test ends. It fails
// the test if there is none: scripts/install-deps installs Debian's.
func Start(t testing.TB) *Browser {
	t.Helper()
	var bin string
	for _, name := range Binaries {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatalf("no chromium in $PATH (looked for %v): scripts/install-deps installs Debian's chromium package", Binaries)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--disable-extensions", "--disable-background-networking", "--no-first-run",
		"--no-default-browser-check", "--hide-scrollbars", "--mute-audio", "--user-data-dir="+t.TempDir(), "about:blank")
	cmd.ExtraFiles = []*os.File{inR, outW}                             // fds 3 and 4: the pipe's ends, as chromium wants them
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // killed with the test's process, if its thread is the one that started it
	err = cmd.Start()
	inR.Close() // the browser's ends, its own once it started
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	b := &Browser{cmd: cmd, in: inW, done: make(chan struct{}), waiting: map[int64]chan reply{}}
	go b.read(outR)
	t.Cleanup(b.close)
	return b
}

// read dispatches the browser's replies to their commands, until the
// pipe closes. Events are dropped.
func (b *Browser) read(out *os.File) {
	defer close(b.done)
	defer out.Close()
	r := bufio.NewReader(out)
	for {
		msg, err := r.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.err = fmt.Errorf("headless: the browser's pipe closed: %w", err)
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m struct {
			ID int64 `json:"id"`
			reply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.reply
		}
	}
}

func (b *Browser) close() {
	b.in.Close() // the browser exits when its pipe closes
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
}

// send sends the command method with params, in the page session (""
// for the browser's), and decodes its result into out, if not nil.
func (b *Browser) send(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.next++
	id := b.next
	ch := make(chan reply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		b.in.SetWriteDeadline(d)
	} else {
		b.in.SetWriteDeadline(time.Time{})
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("headless: %s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		switch {
		case !ok:
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.err
		case r.Error != nil:
			return fmt.Errorf("headless: %s: %s (%d)", method, r.Error.Message, r.Error.Code)
		case out != nil:
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("headless: %s: %w", method, ctx.Err())
	}
}

// Page is a tab of the browser.
type Page struct {
	b       *Browser
	session string
}

// Open opens a tab of width×height CSS pixels at url.
func (b *Browser) Open(ctx context.Context, url string, width, height int) (*Page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.send(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.send(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	p := &Page{b: b, session: attached.SessionID}
	if err := b.send(ctx, p.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return nil, err
	}
	return p, p.Navigate(ctx, url)
}

// Navigate loads url in the page, and waits until its document, a new
// one, has loaded.
func (p *Page) Navigate(ctx context.Context, url string) error {
	var before float64 // the time origin of the document before, which a new one's follows
	if err := p.Eval(ctx, "performance.timeOrigin", &before); err != nil {
		return err
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.b.send(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("headless: loading %s: %s", url, nav.ErrorText)
	}
	for {
		var ready bool
		js := fmt.Sprintf(`performance.timeOrigin > %f && document.readyState === "complete"`, before)
		if err := p.Eval(ctx, js, &ready); err != nil && !errors.Is(err, ErrException) {
			return err
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("headless: loading %s: %w", url, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ErrException is the error of a script that threw.
var ErrException = errors.New("headless: the script threw")

// Eval evaluates the JavaScript expression js in the page, awaiting it if
// it is a promise, and decodes its value, as JSON, into out if not nil.
func (p *Page) Eval(ctx context.Context, js string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.send(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true, "awaitPromise": true}, &r); err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("%w: %s %s\n%s", ErrException, e.Text, e.Exception.Description, js)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Screenshot returns a PNG of the page as it shows, in its tab's size.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := p.b.send(ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}
