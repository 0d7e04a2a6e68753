package query

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
)

// TestRescoreUndoesLyingScores: an owner answers with its hits scored by
// the network's statistics. The querier recomputes every score from the
// hits alone: it finds the owner's own figures exactly, and when the owner
// lies about them (its own post first), it restores the honest order.
func TestRescoreUndoesLyingScores(t *testing.T) {
	ctx := context.Background()
	ix, err := index.Open(index.Config{Dir: filepath.Join(t.TempDir(), "index")})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	k := testkit.Key(t)
	now := time.Now()
	var posts []*post.Post
	for i := range 60 {
		words := []string{"the", "election", "day"}
		for j := range i % 7 {
			words = append(words, "election", fmt.Sprintf("filler%d", j))
		}
		if i%3 == 0 {
			words = append(words, "vote", "count")
		}
		if i%5 == 0 {
			words = []string{"nothing", "about", "it", fmt.Sprint(i)}
		}
		p, err := post.Sign(k, post.Draft{Text: strings.Join(words, " "), CreatedAt: now.Add(-time.Duration(i) * time.Minute)}, now)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p)
	}
	if _, err := ix.Put(ctx, posts...); err != nil {
		t.Fatal(err)
	}
	st := &index.Stats{Docs: 5000, TextTerms: 40000, DocFreq: map[string]uint64{"election": 300, "vote": 45, "day": 900, "count": 70}}
	for _, q := range []string{"election", "election vote", `"election day"`, "election OR vote", "election -count", "vote day"} {
		p, err := Prepare(Request{Q: q, Sort: SortTop, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Rescorable(st) {
			t.Fatalf("%s: not rescorable", q)
		}
		keys, _ := keyspace.ParseAll(keyspace.TermKeys(PositiveTerms(p.Expr)[0]))
		sr, err := p.SearchRequest(keys, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ix.SearchWithStats(ctx, sr, st)
		if err != nil {
			t.Fatal(err)
		}
		var honest []Hit
		for _, h := range res.Hits {
			e, err := Encode(p.Sort, h)
			if err != nil {
				t.Fatal(err)
			}
			hit, err := e.Check(p.Sort, now)
			if err != nil {
				t.Fatal(err)
			}
			honest = append(honest, *hit)
		}
		if len(honest) < 5 {
			t.Fatalf("%s: %d hits", q, len(honest))
		}
		got, changed, err := p.Rescore(ctx, append([]Hit(nil), honest...), keys, 0, st)
		if err != nil || changed != 0 || len(got) != len(honest) {
			t.Fatalf("%s: honest scores: %d changed, %d of %d hits, err %v", q, changed, len(got), len(honest), err)
		}
		// Without the key's filter, which scores nothing, the scores are
		// the same: a querier rescores the hits of every key at once.
		got, changed, err = p.Rescore(ctx, append([]Hit(nil), honest...), nil, 0, st)
		if err != nil || changed != 0 || len(got) != len(honest) {
			t.Fatalf("%s: honest scores without the key: %d changed, %d of %d hits, err %v", q, changed, len(got), len(honest), err)
		}
		// Other statistics, other scores: a score is remembered with the
		// statistics it was computed with, and a second search with
		// the same ones takes it from memory.
		other := &index.Stats{Docs: 2 * st.Docs, TextTerms: st.TextTerms, DocFreq: st.DocFreq}
		if _, changed, err = p.Rescore(ctx, append([]Hit(nil), honest...), keys, 0, other); err != nil || changed != len(honest) {
			t.Fatalf("%s: rescored with twice the posts: %d of %d scores changed, err %v", q, changed, len(honest), err)
		}
		if _, changed, err = p.Rescore(ctx, append([]Hit(nil), honest...), keys, 0, st); err != nil || changed != 0 {
			t.Fatalf("%s: rescored again with the first statistics: %d changed, err %v", q, changed, err)
		}
		// The owner puts the last hit first with a made-up score.
		lying := append([]Hit(nil), honest...)
		for i := range lying {
			lying[i].Score = float64(i)
		}
		got, changed, err = p.Rescore(ctx, lying, keys, 0, st)
		if err != nil || changed != len(honest) {
			t.Fatalf("%s: lying scores: %d of %d changed, err %v", q, changed, len(honest), err)
		}
		for i := range got {
			if got[i].Post.ID != honest[i].Post.ID || !sameScore(got[i].Score, honest[i].Score) || got[i].Sort[0] != honest[i].Sort[0] {
				t.Fatalf("%s: hit %d rescored to %s %v, honest %s %v", q, i, got[i].Post.ID, got[i].Score, honest[i].Post.ID, honest[i].Score)
			}
		}
	}
	for q, want := range map[string]bool{"elect*": false, "election~1": false, "unknownterm": false} {
		p, _ := Prepare(Request{Q: q})
		if p.Rescorable(st) != want {
			t.Errorf("%s: rescorable %v, want %v", q, !want, want)
		}
	}
}

// BenchmarkRescore measures recomputing the scores of 11 hits that were
// never scored before: one temporary index.
func BenchmarkRescore(b *testing.B) {
	k := testkit.Key(b)
	now := time.Now()
	var hits []Hit
	for i := range 11 {
		p, _ := post.Sign(k, post.Draft{Text: fmt.Sprintf("election results %d are in, the election was close", i), CreatedAt: now}, now)
		hits = append(hits, Hit{Post: p, Score: 1})
	}
	st := &index.Stats{Docs: 5000, TextTerms: 40000, DocFreq: map[string]uint64{"election": 300}}
	p, _ := Prepare(Request{Q: "election"})
	for b.Loop() {
		ForgetScores()
		if _, _, err := p.Rescore(context.Background(), append([]Hit(nil), hits...), nil, 0, st); err != nil {
			b.Fatal(err)
		}
	}
}
