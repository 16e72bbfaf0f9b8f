//go:build !linux

package namespaces

import (
	"os"
	"time"
)

// changeTime is the time a file last changed, as this system tells it:
// its modification time.
func changeTime(fi os.FileInfo) time.Time { return fi.ModTime() }
