// Package tests holds slacker-lua's end-to-end tests and call benchmarks:
// real folders of Lua files, served by real servers on loopback ports,
// called through the Go client and the command line.
package tests
