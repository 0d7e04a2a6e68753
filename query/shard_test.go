package query_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/keyspace"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// shardWords is a small vocabulary with a Zipf-like spread, so that terms
// have very different document frequencies.
var shardWords = strings.Fields(`the of and to in is it that was for on are with as be at by this
	had not but from or have an they which one you were her all she there would their we him been
	river stone lantern harbor violet quartz meadow falcon ember cobalt thistle orchard glacier`)

// shardLabel is the author label of three of shardPosts' posts in four.
const shardLabel = "scribe"

func shardPosts(t *testing.T, n int) []*post.Post {
	t.Helper()
	// A fixed key and so fixed post IDs: which shard holds which post is
	// the same at every run (with a random key a span of 2 of 16 shards
	// sometimes held no match, and the test failed its own precondition).
	k, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8([32]byte{7}))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]*post.Post, n)
	for i := range out {
		words := make([]string, 3+rng.IntN(20))
		for j := range words {
			// Zipf-ish: low indexes far more often.
			words[j] = shardWords[int(float64(len(shardWords))*rng.Float64()*rng.Float64()*rng.Float64())]
		}
		// Three posts in four carry a label: its 16 keys are the split
		// key the span tests read.
		label := ""
		if i%4 != 0 {
			label = shardLabel
		}
		p, err := post.Sign(k, post.Draft{Text: strings.Join(words, " "), Lang: "en", Label: label, CreatedAt: base.Add(time.Duration(i) * time.Minute)}, base.AddDate(1, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = p
	}
	return out
}

func openWith(t *testing.T, posts []*post.Post) *index.Index {
	t.Helper()
	ix, err := index.Open(index.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	if _, err := ix.Put(context.Background(), posts...); err != nil {
		t.Fatal(err)
	}
	return ix
}

// TestShardScoresAsOneIndex checks the heart of global ranking: an index
// that holds only the posts with a term (one owner's shard, plus unrelated
// posts it holds for other terms) scores them, given the whole collection's
// statistics, exactly as one index holding every post does.
func TestShardScoresAsOneIndex(t *testing.T) {
	posts := shardPosts(t, 3000)
	whole := openWith(t, posts)
	docs, err := whole.DocCount()
	if err != nil {
		t.Fatal(err)
	}
	terms, err := whole.TextTerms()
	if err != nil {
		t.Fatal(err)
	}
	df := map[string]uint64{}
	for _, p := range posts {
		for _, term := range index.Terms(p.Text) {
			df[term]++
		}
	}
	for _, owned := range []string{"lantern", "quartz", "river", "the"} {
		// The owner of `owned`: every post with it, and a third of the rest.
		var shard []*post.Post
		for i, p := range posts {
			if slices.Contains(index.Terms(p.Text), owned) || i%3 == 0 {
				shard = append(shard, p)
			}
		}
		part := openWith(t, shard)
		for _, q := range []string{owned, owned + " the", owned + " of river", `"the ` + owned + `"`, owned + " -and", owned + " OR quartz falcon", owned + " lang:en"} {
			for _, s := range []query.Sort{query.SortTop, query.SortLatest} {
				t.Run(fmt.Sprintf("%s/%s", q, s), func(t *testing.T) {
					want, err := query.Run(context.Background(), whole, query.Request{Q: q, Sort: s, Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					p, err := query.Prepare(query.Request{Q: q, Sort: s, Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					st := &index.Stats{Docs: docs, TextTerms: terms, DocFreq: map[string]uint64{}}
					for _, term := range query.PositiveTerms(p.Expr) {
						st.DocFreq[term] = df[term]
					}
					keys := []keyspace.Key{{Class: keyspace.ClassTerm, Value: owned}}
					sr, err := p.SearchRequest(keys, 0, 1000)
					if err != nil {
						t.Fatal(err)
					}
					res, err := part.SearchWithStats(context.Background(), sr, st)
					if err != nil {
						t.Fatal(err)
					}
					// The whole index's matches that hold the owned term.
					var wantIDs []string
					wantScore := map[string]float64{}
					for _, h := range want.Hits {
						if slices.Contains(index.Terms(h.Post.Text), owned) {
							wantIDs = append(wantIDs, h.Post.ID)
							wantScore[h.Post.ID] = h.Score
						}
					}
					var gotIDs []string
					for _, h := range res.Hits {
						gotIDs = append(gotIDs, h.ID)
						if s == query.SortTop && !close(h.Score, wantScore[h.ID]) {
							t.Fatalf("post %s scores %v on the shard, %v in one index", h.ID, h.Score, wantScore[h.ID])
						}
					}
					if !slices.Equal(gotIDs, wantIDs) {
						t.Fatalf("shard returns %d hits, one index %d with the term; order or set differs", len(gotIDs), len(wantIDs))
					}
				})
			}
		}
	}
}

func close(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(a, b, 1)
}

// TestImplies: an owner leaves out the key's filter only when every match
// of the query is under the key.
func TestImplies(t *testing.T) {
	key := func(term string) keyspace.Key {
		k, err := keyspace.Parse(keyspace.TermKeys(term)[0])
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, c := range []struct {
		q, term string
		want    bool
	}{
		{"heron", "heron", true},
		{"heron crane", "heron", true},
		{"heron crane", "crane", true},
		{`"grey heron"`, "grey", true},
		{"heron -crane", "heron", true},
		{"heron -crane", "crane", false},
		{"heron OR crane", "heron", false},
		{"heron", "crane", false},
		{"her*", "heron", false},
		{"(heron OR crane) swamp", "swamp", true},
	} {
		p, err := query.Prepare(query.Request{Q: c.q})
		if err != nil {
			t.Fatal(err)
		}
		if got := query.Implies(p.Expr, key(c.term)); got != c.want {
			t.Errorf("%q under %q: %v, want %v", c.q, c.term, got, c.want)
		}
	}
	// A split key's shard holds only some of the label's posts: never
	// implied.
	for _, s := range keyspace.LabelKeys(shardLabel) {
		k, _ := keyspace.Parse(s)
		p, _ := query.Prepare(query.Request{Q: "from:" + shardLabel})
		if k.Shard == "" || query.Implies(p.Expr, k) {
			t.Fatalf("%s: not a shard, or a shard counted as implied", s)
		}
	}
}

// TestSpanAnswersItsShardsTogether: one search over a span of a split
// key's shards returns exactly the hits, scores and order of the searches
// of each shard merged, under the same earlier keys, whether the query
// implies the key's term or not, for part of the shards and for all.
func TestSpanAnswersItsShardsTogether(t *testing.T) {
	posts := shardPosts(t, 1500)
	ix := openWith(t, posts)
	parse := func(ss []string) []keyspace.Key {
		ks, err := keyspace.ParseAll(ss)
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		q      string
		before []string // plan keys before the shards
	}{
		{"from:" + shardLabel, nil},
		{"from:" + shardLabel + " of", nil},
		{"from:" + shardLabel + " OR river", []string{"t/river"}},
		{"-stone from:" + shardLabel, nil},
	} {
		for _, s := range []query.Sort{query.SortTop, query.SortLatest} {
			for _, span := range []int{2, 5, keyspace.HotShards} {
				shards := keyspace.LabelKeys(shardLabel)
				rng.Shuffle(len(shards), func(i, j int) { shards[i], shards[j] = shards[j], shards[i] })
				keys := parse(append(slices.Clone(c.before), shards[:span]...))
				i := len(c.before)
				t.Run(fmt.Sprintf("%s/%s/span=%d", c.q, s, span), func(t *testing.T) {
					p, err := query.Prepare(query.Request{Q: c.q, Sort: s, Limit: 1000})
					if err != nil {
						t.Fatal(err)
					}
					search := func(j, span int) []string {
						sr, err := p.SearchSpan(keys, j, span, 5000)
						if err != nil {
							t.Fatal(err)
						}
						res, err := ix.Search(context.Background(), sr)
						if err != nil {
							t.Fatal(err)
						}
						var out []string
						for _, h := range res.Hits {
							out = append(out, fmt.Sprintf("%s %.9g %v", h.ID, h.Score, h.Sort))
						}
						return out
					}
					got := search(i, span)
					var want []string
					for j := i; j < i+span; j++ {
						want = append(want, search(j, 1)...)
					}
					if len(want) == 0 {
						t.Fatal("the shards hold no match: the test checks nothing")
					}
					if len(got) != len(want) {
						t.Fatalf("the span returns %d hits, its shards %d", len(got), len(want))
					}
					if s == query.SortTop { // scores merge in order
						slices.SortStableFunc(want, func(a, b string) int {
							return compareScoreLine(a, b)
						})
						slices.SortStableFunc(got, func(a, b string) int {
							return compareScoreLine(a, b)
						})
					} else {
						slices.Sort(want)
						slices.Sort(got)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("the span and its shards differ:\n%v\n%v", got[:min(5, len(got))], want[:min(5, len(want))])
					}
					// Restricting a search to keys changes no score: each
					// hit scores what it does in the whole index.
					sr, err := p.SearchRequest(nil, 0, 5000)
					if err != nil {
						t.Fatal(err)
					}
					res, err := ix.Search(context.Background(), sr)
					if err != nil {
						t.Fatal(err)
					}
					whole := map[string]string{}
					for _, h := range res.Hits {
						whole[h.ID] = fmt.Sprintf("%s %.9g", h.ID, h.Score)
					}
					for _, line := range got {
						id := strings.Fields(line)[0]
						if !strings.HasPrefix(line, whole[id]+" ") {
							t.Fatalf("a hit of the span scores otherwise than in the whole index:\n%s\n%s", line, whole[id])
						}
					}
				})
			}
		}
	}
	// A span must be distinct shards of one key.
	p, _ := query.Prepare(query.Request{Q: "from:" + shardLabel})
	for _, bad := range [][]string{
		{"l/scribe/1", "l/scribe/1"},
		{"l/scribe/1", "l/other/2"},
		{"t/river", "l/scribe/2"},
	} {
		if _, err := p.SearchSpan(parse(bad), 0, len(bad), 10); err == nil {
			t.Errorf("span %v accepted", bad)
		}
	}
}

// compareScoreLine orders "ID score sort" lines by score, highest first,
// then by ID, as a search sorted by score does.
func compareScoreLine(a, b string) int {
	var ida, idb string
	var sa, sb float64
	fmt.Sscan(a, &ida, &sa)
	fmt.Sscan(b, &idb, &sb)
	switch {
	case sa > sb:
		return -1
	case sa < sb:
		return 1
	}
	return strings.Compare(ida, idb)
}
