// Command slacker-lua serves a folder of Lua namespaces over slacker's RPC
// protocol, and calls and inspects servers that speak it.
//
// Usage:
//
//	slacker-lua serve [flags] DIR
//	slacker-lua call [flags] [ADDR] NAMESPACE/FUNCTION [ARG...]
//	slacker-lua inspect [flags] [ADDR] [PREFIX]
//	slacker-lua status [flags] [ADDR]
//	slacker-lua test [flags] [PATH...]
//	slacker-lua version
//	slacker-lua completion bash|zsh
//
// Flags may come anywhere before a "--" (flagRule); ADDR may come from
// $SLACKER_ADDR (envHelp). Run "slacker-lua help COMMAND" for a
// command's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = []command{
	{"serve", "serve a folder of Lua namespaces", runServe},
	{"call", "call a function on a server and print the result as JSON", runCall},
	{"inspect", "list the functions a server serves, with their docs", runInspect},
	{"status", "list the namespaces a server serves, and the files it could not load", runStatus},
	{"test", "run the Lua tests of *_test.lua files against namespaces", runTest},
	{"bench", "call a function again and again and print calls/s and latency", runBench},
	{"dev", "run a cluster on this machine to try: a ZooKeeper and servers of a folder", runDev},
	{"console", "serve a web console of a cluster: its namespaces, servers, leaders and functions", runConsole},
	{"admin", "take a running server, or a namespace, out of its cluster and back, or change its weight", runAdmin},
	{"version", "print the version", runVersion},
}

// run is the whole program, minus the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(rest) == 0 {
			usage(stdout)
			return exitOK
		}
		name, rest = rest[0], []string{"--help"}
	case "--version", "-V", "-version":
		name = "version"
	case "completion":
		return runCompletion(rest, stdout, stderr, commands)
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "slacker-lua: unknown command %q; see 'slacker-lua --help'\n", name)
	return exitUsage
}

// builtins are the commands run handles itself, besides those of
// commands.
var builtins = []command{
	{name: "completion", summary: "print a shell completion script: completion bash, or completion zsh"},
	{name: "help", summary: "print the help of a command: help COMMAND"},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "slacker-lua serves Lua functions over slacker's RPC protocol.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage:")
	fmt.Fprintln(w, "  slacker-lua COMMAND [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range append(commands[:len(commands):len(commands)], builtins...) {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags:")
	fmt.Fprintln(w, "  -V, --version  print the version, as the version command does")
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "slacker-lua help COMMAND" for a command's flags.`)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}
