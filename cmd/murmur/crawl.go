package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/crawl"
)

const crawlUsage = `add URL | list | remove URL | run URL

  add URL     put a feed, ActivityPub actor or outbox, or a page that links
              its feed on the node's crawl list (fetched at once, then on schedule)
  list        show each source's last fetch, status, items and next run
  remove URL  take a source off the list
  run URL     fetch a listed source now and show what it did`

func runCrawl(ctx context.Context, args []string) error {
	fs := newFlags("crawl", crawlUsage)
	addr := apiFlag(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{fmt.Errorf("give a subcommand: %s", crawlUsage)}
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	// Flags may also follow the subcommand: murmur crawl list --json.
	if err := parse(fs, rest); err != nil {
		return err
	}
	rest = fs.Args()
	needURL := func() (string, error) {
		if len(rest) != 1 {
			return "", usageError{fmt.Errorf("crawl %s takes one URL", sub)}
		}
		return rest[0], nil
	}
	c, err := client(addr)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		u, err := needURL()
		if err != nil {
			return err
		}
		s, err := c.CrawlAdd(ctx, u)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(s)
		}
		fmt.Fprintf(out(), "added %s; first fetch now, then every interval (see 'murmur crawl list')\n", s.URL)
	case "list":
		if len(rest) != 0 {
			return usageError{fmt.Errorf("crawl list takes no arguments")}
		}
		list, err := c.CrawlSources(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(list)
		}
		printSources(out(), list, time.Now())
	case "remove":
		u, err := needURL()
		if err != nil {
			return err
		}
		if err := c.CrawlRemove(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(out(), "removed %s\n", u)
	case "run":
		u, err := needURL()
		if err != nil {
			return err
		}
		s, err := c.CrawlRun(ctx, u)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(s)
		}
		printSummary(out(), s, time.Now())
		if s.Status != crawl.StatusOK && s.Status != crawl.StatusNotModified {
			return fmt.Errorf("fetch failed: %s", s.Status)
		}
	default:
		return usageError{fmt.Errorf("unknown subcommand %q: %s", sub, crawlUsage)}
	}
	return nil
}

func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(now).Round(time.Second)
	switch {
	case d > 0:
		return "in " + d.String()
	case d < 0:
		return (-d).String() + " ago"
	}
	return "now"
}

func printSources(w io.Writer, list []api.CrawlSource, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no sources; add one with 'murmur crawl add URL'")
		return
	}
	for _, s := range list {
		fmt.Fprintf(w, "%s\n  status %s", s.URL, s.Status)
		if s.HTTP != 0 {
			fmt.Fprintf(w, " (HTTP %d)", s.HTTP)
		}
		if s.Failures > 0 {
			fmt.Fprintf(w, ", %d failures in a row", s.Failures)
		}
		fmt.Fprintf(w, "; last fetch %s; items seen %d (last fetch %d new); next run %s\n",
			when(s.LastFetch, now), s.ItemsSeen, s.LastNew, when(s.NextRun, now))
		if s.Resolved != "" {
			fmt.Fprintf(w, "  items from %s\n", s.Resolved)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Error)
		}
	}
}

func printSummary(w io.Writer, s api.CrawlSummary, now time.Time) {
	fmt.Fprintf(w, "%s: %s", s.URL, s.Status)
	if s.HTTP != 0 {
		fmt.Fprintf(w, " (HTTP %d)", s.HTTP)
	}
	fmt.Fprintf(w, " in %d ms: %d items, %d new, %d already seen, %d rejected; next run %s\n",
		s.TookMS, s.Items, s.New, s.Duplicates, s.Rejected, when(s.NextRun, now))
	if s.Fetched != "" && s.Fetched != s.URL {
		fmt.Fprintf(w, "  items from %s\n", s.Fetched)
	}
	if s.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", s.Error)
	}
	if len(s.Errors) > 0 {
		fmt.Fprintf(w, "  rejected: %s\n", strings.Join(s.Errors, "; "))
	}
}
