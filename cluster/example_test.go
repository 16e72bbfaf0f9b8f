package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/slacker-lua/slacker-lua/client"
	"github.com/slacker-lua/slacker-lua/cluster"
)

func ExampleNewClient() {
	ctx := context.Background()
	c, err := cluster.NewClient(ctx, cluster.ClientConfig{
		ZooKeeper: []string{"zk1:2181", "zk2:2181", "zk3:2181"},
		Layout:    cluster.Layout{Cluster: "example-cluster"},
		Picker:    cluster.LeastInFlight{},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Any server of the namespace, as the Picker chooses.
	sum, err := client.CallAs[int](ctx, c, "slacker.example.math/add", 1, 2)
	switch {
	case errors.Is(err, client.ErrNotFound): // no server serves it, or none has the function
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(sum)

	// One server, by its address.
	one := c.With(cluster.Address("10.0.0.1:2104"))
	add := client.Func2[int, int, int](one, "slacker.example.math/add")
	fmt.Println(add(ctx, 1, 2))
}
