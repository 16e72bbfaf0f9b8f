//go:build race

package transport

// raceEnabled: the race detector's allocator rounds small values up, past
// what the decoding estimate counts, so allocations are not compared.
const raceEnabled = true
