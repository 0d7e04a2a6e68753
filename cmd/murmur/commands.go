package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/api"
)

func newPostCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "post [flags] TEXT...",
		Short: "Publish a post through a running node",
		Long: `Publish a post through a running node and print its ID. The words of TEXT
are joined with spaces. A word of the text that starts with '-' is text once
the text has begun; text that starts with '-' goes after '--'.`,
		Example: `  murmur post 'hello #murmur, from @me'
  murmur post --lang en --reply-to ID 'me too'
  murmur post --api node.example:7070 --data ./murmur-data hello from afar
  murmur post -- -5 degrees this morning`,
		Args:        minArgs(1, "no text given"),
		Annotations: map[string]string{freeTextAnnotation: "true"},
	}
	addr := apiFlags(cmd.Flags())
	lang := cmd.Flags().String("lang", "", "language tag of the post, e.g. en")
	reply := cmd.Flags().String("reply-to", "", "`ID` of the post this one answers")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		text := strings.Join(args, " ")
		if text == "" {
			return usageErrorf("no text given")
		}
		c, err := client(addr)
		if err != nil {
			return err
		}
		p, err := c.Post(cmd.Context(), api.PostRequest{Text: text, Lang: *lang, ReplyTo: *reply})
		if err != nil {
			return err
		}
		fmt.Fprintln(out(), p.ID)
		return nil
	}
	return cmd
}

func newSearchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search [flags] QUERY...",
		Short: "Search the network's posts",
		Long: `Search the posts of the whole network (or, with --local, of this node only).
The words of QUERY are joined with spaces into one query.

Query language: words (all must match), "exact phrase", -word, a OR b, (groups),
#tag, @mention, from:AUTHOR, lang:xx, since:YYYY-MM-DD, until:YYYY-MM-DD, word*.

Once the query has begun, a word that starts with one '-' is part of it
('murmur search cats -dogs'); flags after the query need two dashes. A query
that starts with '-' goes after '--'.`,
		Example: `  murmur search '#murmur'
  murmur search hello world --sort latest --limit 50
  murmur search 'from:alice since:2025-01-01' --all --json
  murmur search cats -dogs
  murmur search -- -dogs cats
  murmur search '#murmur' --follow`,
		Args:        minArgs(1, "give a query"),
		Annotations: map[string]string{freeTextAnnotation: "true"},
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	sort := fs.String("sort", "top", "top (best match) or latest (newest first)")
	limit := fs.Int("limit", 20, "hits per page, 1 to 1000")
	cursor := fs.String("cursor", "", "cursor of the next page, from a previous search")
	all := fs.Bool("all", false, "follow the cursor through every page")
	local := fs.Bool("local", false, "search only this node's own index, not the network")
	asJSON := fs.Bool("json", false, "print the API's JSON answer(s)")
	follow := fs.Bool("follow", false, "print the current matches, then new ones as they arrive, until interrupted")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		q := strings.Join(args, " ")
		if *follow && (*all || *cursor != "") {
			return usageErrorf("--follow prints every match from the first; it takes neither --all nor --cursor")
		}
		c, err := client(addr)
		if err != nil {
			return err
		}
		if *follow {
			// ctx ends on SIGINT or SIGTERM, the normal end of a follow.
			return endOfFollow(ctx, followSearch(ctx, c, q, out()))
		}
		params := url.Values{"q": {q}, "sort": {*sort}, "limit": {strconv.Itoa(*limit)}}
		if *cursor != "" {
			params.Set("cursor", *cursor)
		}
		if *local {
			params.Set("scope", "local")
		}
		shown := 0
		for {
			r, err := c.Search(ctx, params)
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
				if shown == 0 {
					fmt.Fprintf(out(), "%d matches (%d ms)%s\n", r.Total, r.TookMS, partialNote(r))
				}
				for _, h := range r.Hits {
					shown++
					printHit(out(), shown, h)
				}
			}
			if !*all || r.NextCursor == "" {
				if !*asJSON && r.NextCursor != "" {
					fmt.Fprintf(out(), "more: murmur search --cursor %s %s\n", r.NextCursor, queryArg(q))
				}
				return nil
			}
			params.Set("cursor", r.NextCursor)
		}
	}
	return cmd
}

// queryArg is q quoted for a shell, after '--' if it starts with a dash.
func queryArg(q string) string {
	if strings.HasPrefix(q, "-") {
		return "-- " + shellQuote(q)
	}
	return shellQuote(q)
}

func partialNote(r *api.SearchResponse) string {
	note := ""
	if r.Scope == "local" {
		note += ", this node only"
	}
	if r.BestEffort {
		peers := "peers were"
		if r.Shards.Asked == 1 {
			peers = "peer was"
		}
		note += fmt.Sprintf(", best effort: no term routes this query, so %d %s asked and the count is a lower bound", r.Shards.Asked, peers)
	}
	if r.Partial {
		note += fmt.Sprintf(", partial: %d of %d shards answered", r.Shards.Answered, r.Shards.Asked)
	}
	switch r.Ranking {
	case "local":
		note += ", ranked approximately: the network's statistics could not be gathered"
	case "last_good":
		note += ", ranked with the network's statistics of a moment ago"
	}
	for _, l := range r.LabelSigners {
		var signers []string
		for _, s := range l.Signers {
			signers = append(signers, fmt.Sprintf("%s (%d)", s.Signer, s.Posts))
		}
		if len(signers) == 0 {
			signers = []string{"nobody on this page"}
		}
		note += fmt.Sprintf("; from:%s is a label, which any signer can give: on this page signed by %s", l.Label, strings.Join(signers, ", "))
	}
	return note
}

func printHit(w io.Writer, n int, h api.Hit) {
	who := h.Author
	if len(who) > 16 {
		who = who[:8] + "…" + who[len(who)-6:]
	}
	if h.Label != "" {
		who = fmt.Sprintf("%q (a label) signed by %s", h.Label, who)
	}
	score := ""
	if h.Score != 0 { // a live match has none
		score = fmt.Sprintf("  score %.3f", h.Score)
	}
	fmt.Fprintf(w, "\n%d. %s  %s  %s%s\n", n, h.CreatedAt.Local().Format("2006-01-02 15:04"), who, h.Lang, score)
	fmt.Fprintf(w, "   %s\n   id %s\n", strings.ReplaceAll(highlight(h.Text, h.Matches), "\n", "\n   "), h.ID)
}

// highlight marks matched words with *...* for a terminal.
func highlight(text string, spans [][2]int) string {
	var b strings.Builder
	last := 0
	for _, s := range spans {
		if s[0] < last || s[1] > len(text) || s[0] > s[1] {
			continue
		}
		b.WriteString(text[last:s[0]])
		b.WriteString("*" + text[s[0]:s[1]] + "*")
		last = s[1]
	}
	b.WriteString(text[last:])
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import [flags] FILE.jsonl | -",
		Short: "Import JSON Lines posts, with progress",
		Long: `Import posts from a JSON Lines file (or standard input, '-'), one
{"text","created_at","lang","author"} object per line, in chunks: each chunk is
stored before the next is sent. Running the same import again stores nothing
twice: the lines stored already are counted as such.`,
		Example: `  murmur import posts.jsonl
  murmur import --chunk 1000 --quiet posts.jsonl
  zcat posts.jsonl.gz | murmur import - --undated-time 2025-06-01T00:00:00Z`,
		Args: exactArgs(1, "give one file (or - for standard input)"),
	}
	fs := cmd.Flags()
	addr := apiFlags(fs)
	chunk := fs.Int("chunk", 5000, "lines per request; each is stored before the next is sent")
	quiet := fs.Bool("quiet", false, "no progress, only the summary")
	undated := fs.String("undated-time", "", "creation `TIME` (RFC 3339) of lines without created_at; default the file's modification time, or now for standard input")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runImport(cmd.Context(), addr, args[0], *chunk, *quiet, *undated)
	}
	return cmd
}

func runImport(ctx context.Context, addr *nodeFlags, name string, chunk int, quiet bool, undated string) error {
	if chunk < 1 {
		return usageErrorf("--chunk must be at least 1")
	}
	var opts api.ImportOptions
	if undated != "" {
		t, err := time.Parse(time.RFC3339Nano, undated)
		if err != nil {
			return usageErrorf("--undated-time %q: want RFC 3339, e.g. 2006-01-02T15:04:05Z", undated)
		}
		opts.UndatedTime = t
	}
	var in io.Reader = os.Stdin
	var size int64
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		size = st.Size()
		if opts.UndatedTime.IsZero() {
			// Stable across runs: a rerun gives undated lines the same
			// time, so the same post IDs, which the node skips.
			opts.UndatedTime = st.ModTime()
		}
		in = f
	} else if opts.UndatedTime.IsZero() {
		opts.UndatedTime = time.Now()
		fmt.Fprintf(os.Stderr, "import: lines without created_at get %s; to run this import again without storing them twice, add --undated-time %[1]s\n",
			opts.UndatedTime.UTC().Format(time.RFC3339Nano))
	}
	tty := isTerminal(os.Stderr)
	progress := func(p api.ImportProgress) {
		if quiet {
			return
		}
		rate := float64(p.Accepted) / max(p.Elapsed.Seconds(), 1e-3)
		pct := ""
		if size > 0 {
			pct = fmt.Sprintf(" %3.0f%%", 100*float64(p.BytesRead)/float64(size))
		}
		line := fmt.Sprintf("import:%s %d lines, %d accepted,%s %d rejected, %.0f posts/s", pct, p.Lines, p.Accepted, alreadyStored(p.ImportResult), p.Rejected, rate)
		if tty {
			fmt.Fprintf(os.Stderr, "\r%s\x1b[K", line)
		} else {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	c, err := client(addr)
	if err != nil {
		return err
	}
	res, err := c.ImportChunked(ctx, in, chunk, opts, progress)
	if tty && !quiet {
		fmt.Fprintln(os.Stderr)
	}
	fmt.Fprintf(out(), "%d lines: %d accepted,%s %d rejected (%.1f s)\n", res.Lines, res.Accepted, alreadyStored(res), res.Rejected, time.Duration(res.TookMS*int64(time.Millisecond)).Seconds())
	for reason, n := range res.ByReason {
		fmt.Fprintf(out(), "  %s: %d\n", reason, n)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(out(), "  line %d: %s\n", e.Line, e.Error)
	}
	if res.Rejected > len(res.Errors) {
		fmt.Fprintf(out(), "  (%d more rejected lines not listed)\n", res.Rejected-len(res.Errors))
	}
	if err != nil {
		again := "the same command"
		if name == "-" && undated == "" {
			again += " with --undated-time " + opts.UndatedTime.UTC().Format(time.RFC3339Nano)
		}
		return fmt.Errorf("%w\nlines 1-%d are stored; to finish, run %s again: the lines stored already are counted as such, not stored twice", err, res.Lines, again)
	}
	return nil
}

// alreadyStored says how many lines an import skipped as stored, if any.
func alreadyStored(r api.ImportResult) string {
	if r.AlreadyStored == 0 {
		return ""
	}
	return fmt.Sprintf(" %d already stored,", r.AlreadyStored)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "get [flags] ID",
		Short:   "Fetch a post and print it as JSON",
		Long:    "Fetch the post with the given ID and print it as JSON (a deleted post gives a 410 error).",
		Example: "  murmur get ID\n  murmur get --api node.example:7070 ID",
		Args:    exactArgs(1, "give one post ID"),
	}
	addr := apiFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client(addr)
		if err != nil {
			return err
		}
		p, err := c.Get(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printJSON(p)
	}
	return cmd
}

func newDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete [flags] ID",
		Short: "Delete one of the node's own posts",
		Long: `Delete a post signed by the node's identity: the node signs a tombstone for
it, after which the post is refused. Prints the tombstone's ID.`,
		Example: "  murmur delete ID\n  murmur delete --api node.example:7070 --data ./murmur-data ID",
		Args:    exactArgs(1, "give one post ID"),
	}
	addr := apiFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client(addr)
		if err != nil {
			return err
		}
		t, err := c.Delete(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out(), "deleted %s (tombstone %s)\n", t.Target, t.ID)
		return nil
	}
	return cmd
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "status [flags]",
		Short:   "Show the node's identity and holdings",
		Long:    "Print the node's status as JSON: its identity, network, peers and the posts it holds. A node without a peer of its network (\"alone\") also says on standard error how to join one.",
		Example: "  murmur status\n  murmur status --api 127.0.0.1:7072",
		Args:    noArgs,
	}
	addr := apiFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := client(addr)
		if err != nil {
			return err
		}
		s, err := c.Status(cmd.Context())
		if err != nil {
			return err
		}
		if err := printJSON(s); err != nil {
			return err
		}
		if s.Alone {
			fmt.Fprintln(os.Stderr, "murmur status: this node is alone; "+s.AloneHint)
		}
		return nil
	}
	return cmd
}

func printJSON(v any) error {
	enc := json.NewEncoder(out())
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
