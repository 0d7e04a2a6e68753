package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/crawl"
)

const crawlLong = `Manage the crawl list of a node run with --crawl: the feeds, ActivityPub
actors and pages whose posts the node fetches on schedule.

  add URL     put a feed, ActivityPub actor or outbox, or a page that links
              its feed on the node's crawl list (fetched at once, then on schedule)
  list        show each source's last fetch, status, items and next run
  remove URL  take a source off the list
  run URL     fetch a listed source now and show what it did`

const crawlSubcommands = "add URL | list | remove URL | run URL"

func newCrawlCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "crawl add|list|remove|run [URL]",
		Short: "Manage the crawl list of a node run with --crawl",
		Long:  crawlLong,
		Example: `  murmur crawl add https://example.org/feed.xml
  murmur crawl add https://social.example/users/alice
  murmur crawl list --json
  murmur crawl run https://example.org/feed.xml --api 127.0.0.1:7072
  murmur crawl remove https://example.org/feed.xml`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give a subcommand: %s", crawlSubcommands)
			}
			return unknownSubcommand(cmd, args[0], crawlSubcommands)
		},
	}
	// The flags of every subcommand, also accepted before it: murmur crawl --api X list.
	addr := apiFlags(cmd.PersistentFlags())
	asJSON := cmd.PersistentFlags().Bool("json", false, "print the API's JSON answer")

	withClient := func(run func(ctx context.Context, c *api.Client, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			c, err := client(addr)
			if err != nil {
				return err
			}
			return run(cmd.Context(), c, args)
		}
	}
	add := &cobra.Command{
		Use:   "add [flags] URL",
		Short: "Put a source on the crawl list (fetched at once, then on schedule)",
		Long: `Put a feed (RSS 0.9x/2.0, Atom, JSON Feed), an ActivityPub actor or outbox, or a
page that links its feed on the node's crawl list. The node fetches it at once,
then on schedule.`,
		Example: `  murmur crawl add https://example.org/feed.xml
  murmur crawl add https://social.example/users/alice
  murmur crawl add https://blog.example/`,
		Args: exactArgs(1, "give one URL"),
		RunE: withClient(func(ctx context.Context, c *api.Client, args []string) error {
			s, err := c.CrawlAdd(ctx, args[0])
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(s)
			}
			fmt.Fprintf(out(), "added %s; first fetch now, then every interval (see 'murmur crawl list')\n", s.URL)
			return nil
		}),
	}
	list := &cobra.Command{
		Use:     "list [flags]",
		Short:   "Show each source's last fetch, status, items and next run",
		Long:    "Show each source of the crawl list: its last fetch, status, items seen and next run.",
		Example: "  murmur crawl list\n  murmur crawl list --json",
		Args:    noArgs,
		RunE: withClient(func(ctx context.Context, c *api.Client, _ []string) error {
			list, err := c.CrawlSources(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(list)
			}
			printSources(out(), list, time.Now())
			return nil
		}),
	}
	remove := &cobra.Command{
		Use:     "remove [flags] URL",
		Short:   "Take a source off the crawl list",
		Long:    "Take a source off the node's crawl list: the node fetches it no more.",
		Example: "  murmur crawl remove https://example.org/feed.xml",
		Args:    exactArgs(1, "give one URL"),
		RunE: withClient(func(ctx context.Context, c *api.Client, args []string) error {
			if err := c.CrawlRemove(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(out(), "removed %s\n", args[0])
			return nil
		}),
	}
	runCmd := &cobra.Command{
		Use:   "run [flags] URL",
		Short: "Fetch a listed source now and show what it did",
		Long: `Fetch a source of the crawl list now and print a summary: items, new ones,
ones seen already, rejected ones and the next run. A failed fetch exits with
status 1.`,
		Example: "  murmur crawl run https://example.org/feed.xml\n  murmur crawl run https://example.org/feed.xml --json",
		Args:    exactArgs(1, "give one URL"),
		RunE: withClient(func(ctx context.Context, c *api.Client, args []string) error {
			s, err := c.CrawlRun(ctx, args[0])
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
			return nil
		}),
	}
	cmd.AddCommand(add, list, remove, runCmd)
	return cmd
}

// unknownSubcommand is the usage error for a parent command given an
// argument that names none of its subcommands.
func unknownSubcommand(cmd *cobra.Command, name, subs string) error {
	msg := fmt.Sprintf("unknown subcommand %q: %s", name, subs)
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageError{errors.New(msg)}
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
