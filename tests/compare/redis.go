package main

import (
	"context"
	"fmt"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/slacker-lua/slacker-lua/internal/loadgen"
)

// redisLibrary is the Lua of the Redis system, loaded with FUNCTION LOAD:
// the two functions of the workloads. Redis passes arguments as strings,
// so add converts them, as any FCALL function taking numbers must.
const redisLibrary = `#!lua name=bench
redis.register_function('add', function(keys, args)
  return tonumber(args[1]) + tonumber(args[2])
end)
redis.register_function('echo', function(keys, args)
  return args[1]
end)
`

// Redis 7 (Debian's redis-server) running the same functions in its Lua,
// called with FCALL through go-redis and its connection pool, one
// request at a time per connection: how people call Redis from Go.
//
// The client keeps go-redis's default pool, as people use it: 10
// connections per GOMAXPROCS, 20 on this 2-core machine. Past 20 callers
// the others wait inside the client for a free connection (that wait is
// part of their latency, and stays far below the pool's timeout, so
// nothing fails and a user has no reason to tune it). Sizing the pool
// for the callers does not pay here: with 64 and 256 connections, at 64
// and 256 callers, calls/s stayed within the run-to-run noise (about
// 10%) of the default's, since one Redis thread serves them all.
func init() {
	systems = append(systems, system{
		name:  "redis FCALL",
		start: startRedis,
		dial:  dialRedis,
	})
}

func dialRedis(ctx context.Context, s *server, w workload) (loadgen.Call, func(), error) {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return redisCall(rdb, w), func() { rdb.Close() }, nil
}

// startRedis starts redis-server on a free loopback port, with nothing
// persisted, and loads redisLibrary into it.
func startRedis(ctx context.Context, _ string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	s, err := startListening(ctx, addr, "redis-server",
		"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	if err := rdb.FunctionLoadReplace(ctx, redisLibrary).Err(); err != nil {
		s.stop()
		return nil, fmt.Errorf("FUNCTION LOAD: %w", err)
	}
	return s, nil
}

func redisCall(rdb *redis.Client, w workload) loadgen.Call {
	switch w {
	case addWork:
		return func(ctx context.Context, _ int) error {
			n, err := rdb.FCall(ctx, "add", nil, 1, 2).Int64()
			if err == nil && n != 3 {
				err = fmt.Errorf("FCALL add 0 1 2 = %d", n)
			}
			return err
		}
	default:
		return func(ctx context.Context, _ int) error {
			s, err := rdb.FCall(ctx, "echo", nil, echoArg).Text()
			if err == nil && s != echoArg {
				err = fmt.Errorf("FCALL echo returned %d bytes, not the %d sent", len(s), len(echoArg))
			}
			return err
		}
	}
}
