// Package crawl ingests posts from outside murmur: RSS, Atom and JSON Feed
// feeds, ActivityPub outboxes, and HTML pages that link their feeds. A
// Crawler keeps a persistent list of sources under the node's data directory,
// fetches each on a schedule (politely: robots.txt, per-host rate and
// concurrency limits, conditional GET, backoff) and safely (size, time and
// redirect limits, no private addresses unless allowed), turns new items into
// post drafts (Convert) and hands them to a Sink, which signs and stores them.
//
// The package knows nothing of the node or the HTTP API: the node implements
// Sink, and serves the Crawler's methods.
package crawl
