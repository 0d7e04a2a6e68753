// Package api is murmur's HTTP contract: the JSON types of /api/v1 and the
// Client the CLI uses. The handler that serves them is in api/server.
package api

import (
	"time"

	"github.com/murmur-p2p/murmur/post"
)

// PostRequest is the body of POST /api/v1/posts.
type PostRequest struct {
	Text    string `json:"text"`
	ReplyTo string `json:"reply_to,omitempty"`
	Lang    string `json:"lang,omitempty"`
}

// ImportLine is one line of an import (POST /api/v1/import, JSON Lines).
type ImportLine struct {
	Text string `json:"text"`
	// CreatedAt is RFC 3339 or YYYY-MM-DD; empty means the import's
	// ImportOptions.UndatedTime, else the time the node reads the line.
	CreatedAt string `json:"created_at,omitempty"`
	Lang      string `json:"lang,omitempty"`
	Author    string `json:"author,omitempty"` // a label kept on the post; the node signs
	ReplyTo   string `json:"reply_to,omitempty"`
}

// LineError says why one import line was rejected.
type LineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// ImportOptions are the parameters of an import besides its lines.
type ImportOptions struct {
	// UndatedTime is the creation time of lines without created_at (query
	// parameter undated_time, RFC 3339). A line's post ID is the hash of its
	// content and time, so an import run again with the same UndatedTime
	// (the CLI sends the file's modification time) makes the same posts,
	// which the node counts as already stored. Zero means the time each line
	// is read: running the import again would store those lines again.
	UndatedTime time.Time
}

// ImportResult counts what an import did. Accepted posts are persisted.
type ImportResult struct {
	Lines    int `json:"lines"`
	Accepted int `json:"accepted"`
	// AlreadyStored counts lines whose post the node held already (an
	// import run again, or a line repeated): skipped, not stored twice.
	AlreadyStored int `json:"already_stored"`
	Rejected      int `json:"rejected"`
	// UnderReplicated counts accepted posts that some key's owners have not
	// all acknowledged yet; the node keeps placing them.
	UnderReplicated int            `json:"under_replicated,omitempty"`
	ByReason        map[string]int `json:"rejected_by_reason,omitempty"`
	Errors          []LineError    `json:"errors,omitempty"` // the first MaxReportedErrors
	TookMS          int64          `json:"took_ms"`
}

// MaxReportedErrors is how many rejected lines an import reports one by one;
// the rest are only counted by reason.
const MaxReportedErrors = 100

// Hit is one search result.
type Hit struct {
	ID string `json:"id"`
	// Author is the signer, the peer ID whose key signed the post: the
	// only author a signature proves.
	Author string `json:"author"`
	// Label is a name the signer gave the post (an import's or a crawl's
	// author): any signer can give any name.
	Label string `json:"label,omitempty"`
	// AuthorName is the display name of the signer's profile, if it has
	// one: a name the signer chose, not unique; show it beside Author.
	AuthorName string    `json:"author_name,omitempty"`
	Text       string    `json:"text"`
	CreatedAt  time.Time `json:"created_at"`
	Lang       string    `json:"lang,omitempty"`
	ReplyTo    string    `json:"reply_to,omitempty"`
	Source     string    `json:"source,omitempty"`
	Score      float64   `json:"score"`
	// Matches are [start, end) byte offsets of matched words in Text.
	Matches [][2]int `json:"matches,omitempty"`
	// Sig is the author's signature, so a reader can check the hit.
	Sig []byte `json:"sig"`
}

// Post returns the signed post the hit carries.
func (h Hit) Post() *post.Post {
	return &post.Post{ID: h.ID, Author: h.Author, Text: h.Text, CreatedAt: h.CreatedAt, ReplyTo: h.ReplyTo,
		Lang: h.Lang, Label: h.Label, Source: h.Source, Sig: h.Sig}
}

// Shards says how many index shards a search asked and how many answered.
type Shards struct {
	Asked    int `json:"asked"`
	Answered int `json:"answered"`
	Failed   int `json:"failed"`
}

// SearchResponse is the body of GET /api/v1/search.
type SearchResponse struct {
	Hits    []Hit  `json:"hits"`
	Total   uint64 `json:"total"`
	Partial bool   `json:"partial"`
	// BestEffort marks a query the network cannot route (a lone prefix,
	// wildcard, negation, language or date): a bounded number of peers
	// answered it, so matches may be missing and Total is a lower bound.
	BestEffort bool   `json:"best_effort,omitempty"`
	Shards     Shards `json:"shards"`
	TookMS     int64  `json:"took_ms"`
	NextCursor string `json:"next_cursor,omitempty"`
	Scope      string `json:"scope"`
	// Ranking says which statistics a network search scored with:
	// "network" (every node's), "partial" (some nodes did not answer; their
	// keys counted from their other owners), "last_good" (the last complete
	// figures, at most two minutes old) or "local" (none: each owner
	// scored with its own index's, so the order is approximate).
	Ranking string `json:"ranking,omitempty"`
	// LabelSigners says, for each from:LABEL of the query, who signed the
	// posts of this page that carry the label: a label is a name any
	// signer can give, and only Hit.Author is proven by a signature.
	LabelSigners []LabelSigners `json:"label_signers,omitempty"`
}

// LabelSigners is one label a query asked for and the signers of the
// page's posts that carry it, most posts first.
type LabelSigners struct {
	Label   string        `json:"label"`
	Signers []SignerPosts `json:"signers"`
}

// SignerPosts is a signer (a peer ID) and how many posts of the page it
// signed under the label.
type SignerPosts struct {
	Signer string `json:"signer"`
	Posts  int    `json:"posts"`
}

// Status is the body of GET /api/v1/status.
type Status struct {
	PeerID       string   `json:"peer_id"`
	Addrs        []string `json:"addrs"`
	Peers        int      `json:"peers"`
	RoutingTable int      `json:"routing_table"`
	Posts        uint64   `json:"posts"`
	Keys         int      `json:"keys"`
	IndexBytes   int64    `json:"index_bytes"`
	DataDir      string   `json:"data_dir"`
	API          string   `json:"api"`
	UptimeS      int64    `json:"uptime_s"`
	Analyzer     int      `json:"analyzer_version"`
	Version      string   `json:"version"`
	// Network is the network name; HeldKeys the keys the node holds posts
	// under (Keys counts those it is an owner of); Joined whether it has
	// joined through a bootstrap peer.
	Network  string `json:"network"`
	HeldKeys int    `json:"held_keys"`
	Joined   bool   `json:"joined"`
	// PeerIDs are the peer IDs of the connected peers, sorted.
	PeerIDs []string `json:"peer_ids"`
	// Alone is set when no peer of the node's network has been connected
	// for a while (30 s from its start by default); AloneHint then says
	// how to join: the command with another node's address.
	Alone     bool   `json:"alone"`
	AloneHint string `json:"alone_hint,omitempty"`
	// Reachability is AutoNAT's verdict on the node: unknown, public or
	// private (behind a NAT). DHTMode is "server" (the node owns keys) or
	// "client" (unreachable, or --dht-mode client: it owns none).
	Reachability string `json:"reachability"`
	DHTMode      string `json:"dht_mode"`
	// PublicAddrs are the node's addresses public on the internet,
	// RelayAddrs those through a relay it holds a reservation on.
	PublicAddrs []string `json:"public_addrs"`
	RelayAddrs  []string `json:"relay_addrs"`
	// HolePunches counts hole punches by outcome (success, failure).
	HolePunches map[string]int `json:"hole_punches"`
	// RelayedPeers are the connected peers reached only through a relay
	// (no direct connection, or not yet hole-punched).
	RelayedPeers []string `json:"relayed_peers"`
	// Relay is this node's relay service for peers behind NAT: on while
	// the node is reachable, with the reservations it holds and the
	// connections it relays now.
	Relay RelayService `json:"relay"`
	// Recovered is set when the node found its index damaged at start and
	// started with an empty one, which repair refills.
	Recovered *IndexRecovery `json:"index_recovered,omitempty"`
}

// RelayService is a node's relay service for peers behind NAT.
type RelayService struct {
	On           bool `json:"on"`
	Reservations int  `json:"reservations"`
	Connections  int  `json:"connections"`
}

// IndexRecovery says when a node found its index damaged, where it moved
// it and why.
type IndexRecovery struct {
	At      time.Time `json:"at"`
	MovedTo string    `json:"moved_to"`
	Error   string    `json:"error"`
}

// PostResponse is the body of a 201 or 202 answer to POST /api/v1/posts.
type PostResponse struct {
	*post.Post
	// ShortKeys lists the keys still short of the write quorum (202 only).
	ShortKeys []string `json:"short_keys,omitempty"`
	Warning   string   `json:"warning,omitempty"`
}

// ErrorResponse is the body of every 4xx and 5xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// CrawlRequest is the body of POST /api/v1/crawl/sources and /crawl/run.
type CrawlRequest struct {
	URL string `json:"url"`
}

// CrawlSources is the answer of GET /api/v1/crawl/sources.
type CrawlSources struct {
	Sources []CrawlSource `json:"sources"`
}

// CrawlSource is a source of the crawl list with its state, as the crawl
// routes answer it.
type CrawlSource struct {
	URL       string    `json:"url"`
	Resolved  string    `json:"resolved,omitempty"`
	Added     time.Time `json:"added"`
	LastFetch time.Time `json:"last_fetch,omitzero"`
	Status    string    `json:"status"` // a crawl.Status* value, or "new"
	Error     string    `json:"error,omitempty"`
	HTTP      int       `json:"http,omitempty"`
	Failures  int       `json:"failures"`
	ItemsSeen int64     `json:"items_seen"`
	LastNew   int       `json:"last_new"`
	NextRun   time.Time `json:"next_run"`
	Running   bool      `json:"running"`
}

// CrawlSummary is the outcome of one fetch of a source
// (POST /api/v1/crawl/run).
type CrawlSummary struct {
	URL        string    `json:"url"`
	Fetched    string    `json:"fetched,omitempty"` // where the items came from
	Status     string    `json:"status"`
	Error      string    `json:"error,omitempty"`
	HTTP       int       `json:"http,omitempty"`
	Items      int       `json:"items"`      // in the document
	New        int       `json:"new"`        // stored as posts
	Duplicates int       `json:"duplicates"` // already stored before
	Rejected   int       `json:"rejected"`   // empty, or refused by the node
	Errors     []string  `json:"errors,omitempty"`
	TookMS     int64     `json:"took_ms"`
	NextRun    time.Time `json:"next_run"`
}

// Follows are the authors and searches a node's operator follows (GET,
// POST and DELETE /api/v1/follows).
type Follows struct {
	Authors  []string `json:"authors"`
	Searches []string `json:"searches"`
}

// FollowRequest follows (POST /api/v1/follows) one author, a peer ID or an
// author label, or one search.
type FollowRequest struct {
	Author string `json:"author,omitempty"`
	Search string `json:"search,omitempty"`
}

// ProfileRequest sets the node's profile (PUT /api/v1/profile).
type ProfileRequest struct {
	Name string `json:"name"`
	Bio  string `json:"bio,omitempty"`
}
