package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/slacker-lua/slacker-lua/internal/testutil"
	"github.com/slacker-lua/slacker-lua/transport"
)

// A client and a namespace are Callers, so functions bind to either (the
// cluster client's test checks that it is one too).
var (
	_ Caller = (*Client)(nil)
	_ Caller = Namespace{}
)

// localCaller is a second Caller: it runs funcs in-process, passing the
// arguments and the result through codec as a client and server would.
// It records the names it was called with.
type localCaller struct {
	funcs funcs
	codec transport.Codec

	mu    sync.Mutex
	names []string
}

func (l *localCaller) Call(ctx context.Context, name string, args ...any) (Result, error) {
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("local: %s: %w", name, err)
	}
	b, err := l.codec.Marshal(args)
	if err != nil {
		return Result{}, err
	}
	var in []any
	if err := l.codec.Unmarshal(b, &in); err != nil {
		return Result{}, err
	}
	v, err := l.funcs.Call(ctx, name, in)
	if err != nil {
		return Result{}, err
	}
	body, err := l.codec.Marshal(v)
	return Result{body: body, codec: l.codec}, err
}

func (l *localCaller) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.names...)
}

// mathAPI is how business code holds remote functions: typed fields,
// bound once to whichever Caller it is given.
type mathAPI struct {
	add   func(ctx context.Context, a, b int) (int, error)
	sum   func(ctx context.Context, args ...any) (int64, error)
	echo  func(ctx context.Context, s string) (string, error)
	list  func(ctx context.Context, xs []int) ([]int, error)
	words func(ctx context.Context, args ...any) ([]string, error)
	obj   func(ctx context.Context, args ...any) (object, error)
	dict  func(ctx context.Context, args ...any) (map[string]any, error)
	nope  func(ctx context.Context, args ...any) (int, error)
}

type object struct {
	Name string `json:"name" msgpack:"name"`
	N    int    `json:"n" msgpack:"n"`
}

func newMathAPI(c Caller) mathAPI {
	m := NS(c, "m")
	return mathAPI{
		add:   Func2[int, int, int](m, "add"),
		sum:   Func[int64](c, "m/add"),
		echo:  Func1[string, string](m, "echo"),
		list:  Func1[[]int, []int](c, "m/echo"),
		words: Func[[]string](m, "echo"),
		obj:   Func[object](m, "obj"),
		dict:  Func[map[string]any](c, "m/obj"),
		nope:  Func[int](m, "nope"),
	}
}

// testMathAPI checks the bound functions of newMathAPI over c.
func testMathAPI(t *testing.T, c Caller) {
	t.Helper()
	ctx := context.Background()
	api := newMathAPI(c)
	if n := must(api.add(ctx, 40, 2))(t); n != 42 {
		t.Errorf("add(40, 2) = %d, want 42", n)
	}
	if n := must(api.sum(ctx, 1, 2, 3, 36))(t); n != 42 {
		t.Errorf("sum = %d, want 42", n)
	}
	if n := must(api.sum(ctx))(t); n != 0 {
		t.Errorf("sum() = %d, want 0", n)
	}
	if s := must(api.echo(ctx, "hi"))(t); s != "hi" {
		t.Errorf("echo = %q", s)
	}
	// A slice given to a Func1 is one argument, not spread.
	if xs := must(api.list(ctx, []int{1, 2, 3}))(t); !reflect.DeepEqual(xs, []int{1, 2, 3}) {
		t.Errorf("list = %v", xs)
	}
	if ws := must(api.words(ctx, "a", "b"))(t); !reflect.DeepEqual(ws, []string{"a", "b"}) {
		t.Errorf("words = %q", ws)
	}
	if o := must(api.obj(ctx))(t); o != (object{Name: "slacker", N: 3}) {
		t.Errorf("obj = %+v", o)
	}
	if d := must(api.dict(ctx))(t); !reflect.DeepEqual(d, map[string]any{"name": "slacker", "n": int64(3)}) {
		t.Errorf("dict = %#v", d)
	}
	if _, err := api.nope(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("nope: got %v, want ErrNotFound", err)
	}
	// A result that isn't an R: a decoding error, not the server's.
	if _, err := Func[int](c, "m/echo")(ctx, "not a number"); err == nil {
		t.Error("decoding a string as int succeeded")
	} else if errors.Is(err, ErrNotFound) || errors.As(err, new(*RemoteError)) {
		t.Errorf("decoding error %v looks like a remote error", err)
	}
	// Namespace.Call and CallAs over a Namespace.
	m := NS(c, "m")
	if m.Name() != "m" {
		t.Errorf("Name = %q", m.Name())
	}
	var n int
	if err := must(m.Call(ctx, "add", 1, 2))(t).Decode(&n); err != nil || n != 3 {
		t.Errorf("m.Call(add, 1, 2) = %d, %v", n, err)
	}
	if n := must(CallAs[int](ctx, m, "add", 3, 4))(t); n != 7 {
		t.Errorf("CallAs(m, add, 3, 4) = %d", n)
	}
}

// TestFunc runs the same bound functions over a Client, with each codec
// and version, and over an in-process Caller.
func TestFunc(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	for _, ct := range contentTypes {
		for _, v := range []transport.Version{transport.V5, transport.V6} {
			t.Run(fmt.Sprintf("client/%v/v%d", ct, v), func(t *testing.T) {
				testMathAPI(t, dial(t, s.addr, Config{ContentType: ct, Version: v}))
			})
		}
	}
	for _, codec := range []transport.Codec{transport.JSON, transport.Msgpack} {
		t.Run(fmt.Sprintf("local/%v", codec.ContentType()), func(t *testing.T) {
			testMathAPI(t, &localCaller{funcs: testFuncs(), codec: codec})
		})
	}
}

// TestFuncRemoteErrors: the server's errors come back as Call returns
// them.
func TestFuncRemoteErrors(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{})
	ctx := context.Background()
	tests := []struct {
		name     string
		args     []any
		sentinel error
		code     transport.Code
		msg      string
	}{
		{"m/nope", nil, ErrNotFound, transport.CodeNotFound, ""},
		{"m/a/b", nil, ErrNotFound, transport.CodeNotFound, ""}, // a function name may hold "/"
		{"m/fail", nil, ErrException, transport.CodeException, "kaboom: the function failed"},
		{"m/add", []any{"x"}, ErrException, transport.CodeException, "add: string is not an integer"},
		{"m/full", nil, ErrThreadPoolFull, transport.CodeThreadPoolFull, ""},
	}
	for _, tt := range tests {
		_, err := Func[int](c, tt.name)(ctx, tt.args...)
		var re *RemoteError
		switch {
		case !errors.As(err, &re):
			t.Errorf("%s: got %v, want a *RemoteError", tt.name, err)
		case re.Code != tt.code || re.Message != tt.msg:
			t.Errorf("%s: got %+v, want code %v, message %q", tt.name, re, tt.code, tt.msg)
		case !errors.Is(err, tt.sentinel):
			t.Errorf("%s: %v is not %v", tt.name, err, tt.sentinel)
		}
	}
	_, err := Func1[string, int](NS(c, "m"), "add")(ctx, "x")
	if !errors.Is(err, ErrException) {
		t.Errorf("Func1 over a Namespace: got %v, want ErrException", err)
	}
}

// TestFuncBadName: a name that no server can serve fails every call with
// ErrNotFound, without calling the Caller.
func TestFuncBadName(t *testing.T) {
	l := &localCaller{funcs: testFuncs(), codec: transport.JSON}
	add1 := Func1[int, int](l, "add")
	add2 := Func2[int, int, int](NS(l, ""), "add")
	tests := []struct {
		desc string
		f    func(ctx context.Context, args ...any) (int, error)
	}{
		{"empty", Func[int](l, "")},
		{"no namespace", Func[int](l, "add")},
		{"empty namespace", Func[int](l, "/add")},
		{"empty function", Func[int](l, "m/")},
		{"slash", Func[int](l, "/")},
		{"NS empty", Func[int](NS(l, ""), "add")},
		{"NS with slash", Func[int](NS(l, "m/x"), "add")},
		{"NS empty function", Func[int](NS(l, "m"), "")},
		{"zero Namespace", Func[int](Namespace{}, "add")},
		{"Func1", func(ctx context.Context, _ ...any) (int, error) { return add1(ctx, 1) }},
		{"Func2", func(ctx context.Context, _ ...any) (int, error) { return add2(ctx, 1, 2) }},
		{"Namespace.Call, empty", func(ctx context.Context, args ...any) (int, error) {
			return CallAs[int](ctx, NS(l, ""), "add", args...)
		}},
		{"Namespace.Call, empty function", func(ctx context.Context, args ...any) (int, error) {
			return CallAs[int](ctx, NS(l, "m"), "", args...)
		}},
	}
	for _, tt := range tests {
		for range 2 {
			n, err := tt.f(context.Background(), 1, 2)
			if !errors.Is(err, ErrNotFound) || n != 0 {
				t.Errorf("%s: got %d, %v; want ErrNotFound", tt.desc, n, err)
			}
			if errors.As(err, new(*RemoteError)) {
				t.Errorf("%s: %v is a remote error", tt.desc, err)
			}
		}
	}
	if calls := l.calls(); len(calls) != 0 {
		t.Errorf("the Caller was called: %q", calls)
	}
}

// TestFuncNamespaceNames: a function bound to a Namespace calls the
// namespace's Caller by the function's full name, and so does
// Namespace.Call.
func TestFuncNamespaceNames(t *testing.T) {
	ctx := context.Background()
	l := &localCaller{funcs: testFuncs(), codec: transport.JSON}
	m := NS(l, "m")
	must(Func[int](m, "add")(ctx, 1))(t)
	must(Func1[int, int](&m, "add")(ctx, 1))(t)
	must(m.Call(ctx, "nargs"))(t)
	must(CallAs[int](ctx, m, "nargs"))(t)
	want := []string{"m/add", "m/add", "m/nargs", "m/nargs"}
	if got := l.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestFuncCancel: a bound function's ctx is the call's, as in Call.
func TestFuncCancel(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	c := dial(t, s.addr, Config{})
	wait := Func[any](NS(c, "m"), "wait")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before the call: got %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	stop := time.AfterFunc(20*time.Millisecond, cancel)
	defer stop.Stop()
	if _, err := wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during the call: got %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := Func1[int, int](c, "m/wait")(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past the deadline: got %v, want context.DeadlineExceeded", err)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return pendingCalls(c) == 0 }, "the abandoned calls to be removed")

	// The client still works.
	if n := must(Func2[int, int, int](c, "m/add")(context.Background(), 1, 2))(t); n != 3 {
		t.Errorf("add = %d, want 3", n)
	}
}

// TestFuncConcurrent: one bound function, called from many goroutines.
func TestFuncConcurrent(t *testing.T) {
	testutil.CheckGoroutines(t)
	s := startServer(t, testFuncs(), "")
	add := Func2[int, int, int](NS(dial(t, s.addr, Config{}), "m"), "add")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			n, err := add(context.Background(), i, 1)
			if err == nil && n != i+1 {
				err = fmt.Errorf("add(%d, 1) = %d", i, n)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
