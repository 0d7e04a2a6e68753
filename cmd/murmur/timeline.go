package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/query"
)

const followLong = `Follow an author or a search: their posts make up the node's timeline
('murmur timeline'). Give exactly one of --author and --search:

  --author  a peer ID (the signer of posts; 'murmur status' prints the node's
            own as peer_id) or an author label, as from:AUTHOR takes
  --search  a query the node can follow live: one that some word, #tag,
            @mention or from: routes (not only a prefix, wildcard, negation,
            language or date)

A node follows at most 100 authors and searches. Prints what it follows now.`

const unfollowLong = `Stop following an author or a search, written as it was followed
('murmur follows' lists them). Give exactly one of --author and --search.
Prints what the node follows now; what it did not follow is an error.`

// followFlags are the --author and --search of follow and unfollow.
type followFlags struct {
	fs             *pflag.FlagSet
	author, search *string
}

func newFollowFlags(fs *pflag.FlagSet, verb string) *followFlags {
	return &followFlags{
		fs:     fs,
		author: fs.String("author", "", "`PEER-ID-or-LABEL` of the author to "+verb),
		search: fs.String("search", "", "`QUERY` of the search to "+verb),
	}
}

// request is the follow the flags name, or a usage error: exactly one of
// --author and --search, and no other words.
func (f *followFlags) request(cmd *cobra.Command, args []string) (api.FollowRequest, error) {
	author, search := f.fs.Changed("author"), f.fs.Changed("search")
	name := cmd.Name()
	switch {
	case len(args) > 0:
		return api.FollowRequest{}, usageErrorf("say what %q is: give --author PEER-ID-or-LABEL or --search QUERY, as in: murmur %s --search %s",
			strings.Join(args, " "), name, shellQuote(strings.Join(args, " ")))
	case author && search:
		return api.FollowRequest{}, usageErrorf("give --author or --search, not both (one at a time)")
	case author && strings.TrimSpace(*f.author) == "":
		return api.FollowRequest{}, usageErrorf("--author is empty: give a peer ID or an author label")
	case search && strings.TrimSpace(*f.search) == "":
		return api.FollowRequest{}, usageErrorf("--search is empty: give a query")
	case author:
		return api.FollowRequest{Author: *f.author}, nil
	case search:
		return api.FollowRequest{Search: *f.search}, nil
	}
	return api.FollowRequest{}, usageErrorf("give --author PEER-ID-or-LABEL or --search QUERY")
}

// printFollows prints what a node follows: the API's JSON, or a section of
// authors and one of searches.
func printFollows(f *api.Follows, asJSON bool) error {
	if asJSON {
		return printJSON(f)
	}
	w := out()
	for _, s := range []struct {
		name  string
		items []string
	}{{"authors", f.Authors}, {"searches", f.Searches}} {
		fmt.Fprintf(w, "%s:\n", s.name)
		if len(s.items) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, it := range s.items {
			fmt.Fprintf(w, "  %s\n", it)
		}
	}
	return nil
}

func newFollowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "follow [flags] --author PEER-ID-or-LABEL | --search QUERY",
		Short: "Follow an author or a search in the node's timeline",
		Long:  followLong,
		Example: `  murmur follow --search '#murmur'
  murmur follow --search 'heron lang:en'
  murmur follow --author 12D3KooWExample...
  murmur follow --author alice --json`,
		Args: cobra.ArbitraryArgs, // words without a flag: request says which flag
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	which := newFollowFlags(fs, "follow")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req, err := which.request(cmd, args)
		if err != nil {
			return err
		}
		c, err := client(addr)
		if err != nil {
			return err
		}
		f, err := c.Follow(cmd.Context(), req)
		if err != nil {
			return err
		}
		return printFollows(f, *asJSON)
	}
	return cmd
}

func newUnfollowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unfollow [flags] --author PEER-ID-or-LABEL | --search QUERY",
		Short: "Stop following an author or a search",
		Long:  unfollowLong,
		Example: `  murmur unfollow --search '#murmur'
  murmur unfollow --author 12D3KooWExample...`,
		Args: cobra.ArbitraryArgs,
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	which := newFollowFlags(fs, "unfollow")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req, err := which.request(cmd, args)
		if err != nil {
			return err
		}
		c, err := client(addr)
		if err != nil {
			return err
		}
		f, err := c.Unfollow(cmd.Context(), req)
		var e *api.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			what := fmt.Sprintf("search %q", req.Search)
			if req.Author != "" {
				what = fmt.Sprintf("author %q", req.Author)
			}
			return fmt.Errorf("not followed: %s ('murmur follows' lists what is)", what)
		}
		if err != nil {
			return err
		}
		return printFollows(f, *asJSON)
	}
	return cmd
}

func newFollowsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "follows [flags]",
		Short: "List the authors and searches the node follows",
		Long: `List the authors and searches whose posts make up the node's timeline
('murmur follow' adds one, 'murmur unfollow' takes one away).`,
		Example: "  murmur follows\n  murmur follows --json --api 127.0.0.1:7072",
		Args:    noArgs,
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := client(addr)
		if err != nil {
			return err
		}
		f, err := c.Follows(cmd.Context())
		if err != nil {
			return err
		}
		return printFollows(f, *asJSON)
	}
	return cmd
}

const timelineLong = `Show the timeline: the posts of the authors and searches the node follows
('murmur follow'), newest first, a page at a time. --all walks every page;
--cursor starts at the page a previous one named.

--follow prints the newest page, oldest first, then each new post as it is
written, until Ctrl-C (or SIGTERM); a stream the node drops is resumed
where it ended. The follows it streams are those of its start (or of its
last resume).`

func newTimelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "timeline [flags]",
		Short: "Show the posts of the followed authors and searches, newest first",
		Long:  timelineLong,
		Example: `  murmur timeline
  murmur timeline --limit 50 --all --json
  murmur timeline --cursor CURSOR
  murmur timeline --follow`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	limit := fs.Int("limit", query.DefaultLimit, fmt.Sprintf("posts per page, 1 to %d", query.MaxLimit))
	cursor := fs.String("cursor", "", "cursor of the next page, from a previous timeline")
	all := fs.Bool("all", false, "follow the cursor through every page")
	asJSON := fs.Bool("json", false, "print the API's JSON answer(s)")
	follow := fs.Bool("follow", false, "print the newest posts, then new ones as they are written, until interrupted")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx := cmd.Context()
		if *limit < 1 || *limit > query.MaxLimit {
			return usageErrorf("--limit %d is outside 1..%d", *limit, query.MaxLimit)
		}
		if *follow && (*all || *cursor != "" || *asJSON) {
			return usageErrorf("--follow prints the newest posts, then new ones; it takes neither --all, --cursor nor --json")
		}
		c, err := client(addr)
		if err != nil {
			return err
		}
		if *follow {
			// ctx ends on SIGINT or SIGTERM, the normal end of a follow.
			return endOfFollow(ctx, followTimeline(ctx, c, *limit, out()))
		}
		params := url.Values{"limit": {strconv.Itoa(*limit)}}
		if *cursor != "" {
			params.Set("cursor", *cursor)
		}
		shown := 0
		for page := 0; ; page++ {
			r, err := c.Timeline(ctx, params)
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(out())
				enc.SetEscapeHTML(false)
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				// A page's total is its own posts: each page says how many.
				more := ""
				if page > 0 {
					more = "\n"
				}
				fmt.Fprintf(out(), "%s%d posts (%d ms)%s\n", more, len(r.Hits), r.TookMS, timelineNote(r))
				for _, h := range r.Hits {
					shown++
					printHit(out(), shown, h)
				}
			}
			if !*all || r.NextCursor == "" {
				if !*asJSON && r.NextCursor != "" {
					next := "murmur timeline --cursor " + shellWord(r.NextCursor)
					if *limit != query.DefaultLimit {
						next += " --limit " + strconv.Itoa(*limit)
					}
					fmt.Fprintf(out(), "more: %s\n", next)
				}
				return nil
			}
			params.Set("cursor", r.NextCursor)
		}
	}
	return cmd
}

// timelineNote says what a page of the timeline lacks: the timeline is a
// search for each followed search (and each 8 followed authors), and one
// that fails, or answers only in part, makes the page partial.
func timelineNote(r *api.SearchResponse) string {
	if !r.Partial {
		return ""
	}
	if r.Shards.Failed > 0 {
		return fmt.Sprintf(", partial: %d of the timeline's %d searches failed", r.Shards.Failed, r.Shards.Asked)
	}
	return ", partial: some shards of the timeline's searches did not answer"
}

// shellWord is s, quoted for a shell only if it needs to be.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/+=,@%") == "" {
		return s
	}
	return shellQuote(s)
}
