package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/transport"
)

// mathAPI holds the remote functions the business code calls, typed.
type mathAPI struct {
	Add func(ctx context.Context, a, b int) (int, error)
	Sum func(ctx context.Context, xs ...any) (int, error)
}

// newMathAPI binds the functions to c: a *client.Client, a
// *cluster.Client, or a fake in tests.
func newMathAPI(c client.Caller) mathAPI {
	math := client.NS(c, "slacker.example.math")
	return mathAPI{
		Add: client.Func2[int, int, int](math, "add"),
		Sum: client.Func[int](c, "slacker.example.math/add"),
	}
}

func ExampleFunc() {
	addr, stop := serveMath()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	api := newMathAPI(c)
	fmt.Println(api.Add(ctx, 1, 2))
	fmt.Println(api.Sum(ctx, 1, 2, 3, 4))

	_, err = client.Func[int](c, "slacker.example.math/sub")(ctx, 1, 2)
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// 3 <nil>
	// 10 <nil>
	// true
}

// serveMath serves slacker.example.math/add on a new port until stop.
func serveMath() (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := transport.NewServer(mathHandler{}, transport.ServerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(done)
	}()
	return ln.Addr().String(), func() {
		srv.Close()
		<-done
	}
}

// mathHandler serves one function, which adds integers.
type mathHandler struct{}

func (mathHandler) Call(_ context.Context, name string, args []any) (any, error) {
	if name != "slacker.example.math/add" {
		return nil, fmt.Errorf("%w: %s", transport.ErrNotFound, name)
	}
	var sum int64
	for _, a := range args {
		n, ok := a.(int64)
		if !ok {
			return nil, fmt.Errorf("add: %T is not an integer", a)
		}
		sum += n
	}
	return sum, nil
}

func (mathHandler) Functions(string) []string { return []string{"slacker.example.math/add"} }

func (mathHandler) Meta(string) (transport.FuncMeta, bool) { return transport.FuncMeta{}, false }
