//go:build !unix

package transport

// rawReads says whether readBuffer reads plain sockets itself: on Unix
// systems only.
const rawReads = false

func (b *readBuffer) rawRead(fd uintptr) bool { panic("transport: rawRead without rawReads") }
