package namespaces

import (
	"os"
	"syscall"
	"time"
)

// changeTime is the time a file's contents or attributes last changed
// (ctime), which no tool can set.
func changeTime(fi os.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fi.ModTime()
}
