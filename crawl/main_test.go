package crawl

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: a closed Crawler
// stops its scheduler, fetches and connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
