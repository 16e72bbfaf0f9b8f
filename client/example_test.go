package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/slacker-lua/slacker-lua/client"
)

func ExampleDial() {
	addr, stop := serveMath() // a server of slacker.example.math/add
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.Call(ctx, "slacker.example.math/add", 1, 2)
	if err != nil {
		log.Fatal(err)
	}
	var sum int
	if err := res.Decode(&sum); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 3
}

func ExampleCallAs() {
	addr, stop := serveMath()
	defer stop()

	ctx := context.Background()
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sum, err := client.CallAs[int](ctx, c, "slacker.example.math/add", 40, 2)
	fmt.Println(sum, err)

	_, err = client.CallAs[int](ctx, c, "slacker.example.math/nope")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// 42 <nil>
	// true
}
