package query

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

// TestCheckHitSortTime: under sort=latest an owner may rank a post at the
// time it received it, if that was before the post's signed time (a clock
// ahead of the owner's), but never later than the signed time nor earlier
// than post.MaxFutureSkew before it: a peer cannot move a post further.
func TestCheckHitSortTime(t *testing.T) {
	k := testkit.Key(t)
	now := time.Now()
	p, err := post.Sign(k, post.Draft{Text: "sort time check", CreatedAt: now.Add(5 * time.Minute)}, now)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(p)
	for _, c := range []struct {
		at time.Time
		ok bool
	}{
		{p.CreatedAt, true},
		{p.CreatedAt.Add(-5 * time.Minute), true},
		{p.CreatedAt.Add(-post.MaxFutureSkew * time.Second), true},
		{p.CreatedAt.Add(time.Millisecond), false},
		{p.CreatedAt.Add(-post.MaxFutureSkew*time.Second - time.Millisecond), false},
		{p.CreatedAt.Add(-24 * time.Hour), false},
	} {
		vals := []string{c.at.UTC().Format(time.RFC3339Nano), p.ID}
		_, err := EncodedHit{Post: raw, Sort: vals}.Check(SortLatest, now)
		if (err == nil) != c.ok {
			t.Errorf("sort time %v for a post signed at %v: err %v, want ok=%v", c.at, p.CreatedAt, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "sort time") {
			t.Errorf("error %q does not name the sort time", err)
		}
	}
}
