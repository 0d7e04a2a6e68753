package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/follows"
	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/post"
	"github.com/murmur-p2p/murmur/query"
)

// answerBackend answers every search with a fixed result and nothing else.
type answerBackend struct{ res *query.Result }

func (b answerBackend) Search(context.Context, query.Request) (*query.Result, error) {
	r := *b.res
	return &r, nil
}
func (answerBackend) Publish(context.Context, post.Draft) (*post.Post, error) {
	return nil, index.ErrNotFound
}
func (answerBackend) Get(context.Context, string) (*post.Post, error) { return nil, index.ErrNotFound }
func (answerBackend) Status(context.Context) (api.Status, error)      { return api.Status{}, nil }
func (answerBackend) Follow(context.Context, query.Request) (<-chan query.Hit, error) {
	return nil, &query.RequestError{Msg: "not followed in this test"}
}
func (answerBackend) Follows() follows.List { return follows.List{} }
func (answerBackend) Profiles(context.Context, []string) map[string]*post.Profile {
	return nil
}
func (answerBackend) AddFollow(string, string) (follows.List, error) {
	return follows.List{}, &query.RequestError{Msg: "not followed in this test"}
}
func (answerBackend) RemoveFollow(string, string) (follows.List, error) {
	return follows.List{}, follows.ErrNotFollowed
}
func (answerBackend) Timeline(context.Context, int, string) (*query.Result, error) {
	return &query.Result{}, nil
}
func (answerBackend) FollowTimeline(context.Context) (<-chan query.Hit, int, int, error) {
	return nil, 0, 0, &query.RequestError{Msg: "not followed in this test"}
}
func (answerBackend) Replies(context.Context, string, int) ([]*post.Post, error) {
	return nil, nil
}

// TestSearchNotices checks the plain notices a page of results carries about
// how complete the answer is, with JavaScript off and in the script's
// fragment: partial when shards failed, best-effort when the query could not
// be routed, neither when every shard answered.
//
// The partial notice is checked here against a made-up result because a real
// partial answer to a routable query is impractical to produce on the small
// networks the web tests start: with 3 nodes and R=3 every key has every node
// as an owner, so a killed node always leaves replicas that answer. (The
// browser test does show a real partial answer, of a best-effort query, whose
// peers come from the routing table.)
func TestSearchNotices(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pp, err := post.Sign(key, post.Draft{Text: "an example of a <b>bold</b> claim"}, now)
	if err != nil {
		t.Fatal(err)
	}
	hits := []query.Hit{{Post: pp, Matches: []query.Span{{Start: 3, End: 10}}}}

	for _, tc := range []struct {
		name       string
		res        query.Result
		want, not  []string
		wantStatus int
	}{
		{
			name: "complete",
			res:  query.Result{Scope: query.ScopeNetwork, Shards: query.ShardCounts{Asked: 2, Answered: 2}, Total: 1, Hits: hits},
			want: []string{"1 post matches.", "2 of 2 shards answered", "<mark>example</mark>"},
			not:  []string{"partial", "best-effort", "At least"},
		},
		{
			name: "partial",
			res:  query.Result{Scope: query.ScopeNetwork, Shards: query.ShardCounts{Asked: 3, Answered: 2, Failed: 1}, Partial: true, Total: 1, Hits: hits},
			want: []string{"2 of 3 shards answered", `<p class="partial" role="status">This answer is partial: only 2 of 3 shards answered, so some matching posts may be missing.</p>`},
			not:  []string{"best-effort"},
		},
		{
			name: "best-effort",
			res:  query.Result{Scope: query.ScopeNetwork, BestEffort: true, Shards: query.ShardCounts{Asked: 3, Answered: 3}, Total: 1, Hits: hits},
			want: []string{"At least 1 post matches.", "3 of 3 peers answered", `<p class="best-effort" role="status">This answer is best-effort:`, "only a limited number of peers were asked (3 this time)"},
			not:  []string{"partial", "shards answered"},
		},
		{
			name: "best-effort and partial",
			res:  query.Result{Scope: query.ScopeNetwork, BestEffort: true, Partial: true, Shards: query.ShardCounts{Asked: 3, Answered: 2, Failed: 1}, Total: 1, Hits: hits},
			want: []string{"2 of 3 peers answered", "This answer is best-effort:", "This answer is partial: only 2 of 3 peers answered"},
			not:  []string{"shards answered"},
		},
		{
			name: "best-effort, one peer, nothing found",
			res:  query.Result{Scope: query.ScopeNetwork, BestEffort: true, Shards: query.ShardCounts{Asked: 1, Answered: 1}},
			want: []string{"No posts match.", "1 of 1 peer answered", "This answer is best-effort:", "(1 this time)"},
			not:  []string{"partial", "At least"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(answerBackend{&tc.res}, Options{Logger: slog.New(slog.DiscardHandler)}))
			defer srv.Close()
			for _, path := range []string{"/?q=exampl*", "/?q=exampl*&fragment=1", "/a/someone"} {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page := string(body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, page)
				}
				for _, w := range tc.want {
					if !strings.Contains(page, w) {
						t.Errorf("GET %s lacks %q:\n%s", path, w, page)
					}
				}
				for _, n := range tc.not {
					if strings.Contains(page, n) {
						t.Errorf("GET %s has %q:\n%s", path, n, page)
					}
				}
				if strings.Contains(page, "<b>bold") {
					t.Errorf("GET %s: the post's markup is not escaped", path)
				}
			}
		})
	}
}
