package main

import "errors"

// chart writes a PNG chart of throughput and latency per system.
func chart(path string, points []point, callers []int) error {
	return errors.New("not written yet")
}
