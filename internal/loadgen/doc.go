// Package loadgen drives calls from concurrent callers and measures them:
// the load generator of slacker-lua bench and of the comparison harness,
// so that every system is measured the same way.
package loadgen
