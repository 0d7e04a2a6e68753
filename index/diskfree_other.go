//go:build !unix

package index

// freeBytes is unknown off Unix: the free-space watermark does not apply.
func freeBytes(string) (uint64, bool) { return 0, false }
