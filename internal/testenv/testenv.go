// Package testenv lets tests that need an outside tool (a Debian package,
// Docker, Prometheus, a browser) skip with a clear message on a developer's
// machine that lacks it, and fail instead under CI, where .ci/run installs
// every tool and sets MURMUR_REQUIRE_TOOLS=1.
package testenv

import (
	"os"
	"testing"
)

// RequireEnv is the environment variable that turns skips into failures.
const RequireEnv = "MURMUR_REQUIRE_TOOLS"

// Need skips (or, under RequireEnv, fails) t when ok is false.
func Need(t testing.TB, ok bool, what, install string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is missing and %s=1: %s", what, RequireEnv, install)
	}
	t.Skipf("skipping: %s is missing (%s); set %s=1 to make this a failure", what, install, RequireEnv)
}
