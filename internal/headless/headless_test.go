package headless

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><p id="p">hello</p>`))
	}))
	defer srv.Close()
	b := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := b.Open(ctx, srv.URL, 400, 300)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := p.Eval(ctx, `document.getElementById("p").textContent`, &got); err != nil || got != "hello" {
		t.Fatalf("text: %q, %v", got, err)
	}
	var n int
	if err := p.Eval(ctx, `new Promise(r => setTimeout(() => r(6*7), 10))`, &n); err != nil || n != 42 {
		t.Fatalf("promise: %d, %v", n, err)
	}
	if err := p.Eval(ctx, `nope()`, nil); !errors.Is(err, ErrException) {
		t.Fatalf("a throw: %v", err)
	}
	png, err := p.Screenshot(ctx)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
}
