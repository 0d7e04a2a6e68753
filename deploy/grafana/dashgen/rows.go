//lint:file-ignore SA1019 see dashboard.go: Grafana 11.3 reads the classic dashboard schema, not dashboardv2.

package main

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"

	"github.com/murmur-p2p/murmur/metrics"
)

// overviewRow adds the Overview row: stats of the selected nodes at a glance.
func overviewRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(1, "Overview"))
	b.WithPanel(statPanel(2).
		Title("Nodes up").
		Description("Nodes Prometheus scrapes successfully (job murmur).").
		Unit(units.Short).
		WithTarget(query("A", `sum(up{job="murmur",instance=~"$instance"})`, "up")).
		WithTarget(query("B", `count(up{job="murmur",instance=~"$instance"})`, "scraped")))
	b.WithPanel(statPanel(3).
		Title("Posts held").
		Description("Posts in the local indexes of the selected nodes.").
		Unit(units.Short).
		WithTarget(query("A", `sum(`+metrics.IndexDocuments+`{instance=~"$instance"})`, "posts")))
	b.WithPanel(statPanel(4).
		Title("Searches per second").
		Description("API searches per second, all outcomes.").
		Unit(units.RequestsPerSecond).
		WithTarget(query("A", `sum(rate(`+metrics.SearchRequests+`{instance=~"$instance"}[$__rate_interval]))`, "searches/s")))
	b.WithPanel(statPanel(5).
		Title("Connected peers").
		Description("libp2p peers connected, summed over the selected nodes.").
		Unit(units.Short).
		WithTarget(query("A", `sum(`+metrics.PeersConnected+`{instance=~"$instance"})`, "peers")))
}

// networkRow adds the Network row: peers, the DHT, keys owned and their
// replication, store requests, protocol traffic, and libp2p's own metrics.
func networkRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(6, "Network"))
	b.WithPanel(timeseriesPanel(7, 8).
		Title("Connected peers").
		Description("Peers each node's libp2p host is connected to.").
		Unit(units.Short).
		WithTarget(query("A", metrics.PeersConnected+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(8, 8).
		Title("DHT routing table").
		Description("Peers in each node's Kademlia routing table.").
		Unit(units.Short).
		WithTarget(query("A", metrics.RoutingTablePeers+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(9, 8).
		Title("Keys owned").
		Description("Keys (terms, split terms' trie nodes, author and label shards) each node holds as one of their R owners.").
		Unit(units.Short).
		WithTarget(query("A", metrics.KeysOwned+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(10, 8).
		Title("Posts held per key class").
		Description("Posts held under each class of key; a post counts once per key.").
		Unit(units.Short).
		WithTarget(query("A", `sum by (class) (`+metrics.KeyPostings+`{instance=~"$instance"})`, "{{class}}")))
	b.WithPanel(timeseriesPanel(11, 8).
		Title("Under-replicated keys").
		Description("Held keys that the last repair pass found on fewer than R owners.").
		Unit(units.Short).
		WithTarget(query("A", metrics.KeysUnderReplicate+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(12, 8).
		Title("Repair").
		Description("Repair passes by outcome, posts handed to new owners, DHT lookups for owners (zero below 20 peers, where the routing table names them) and of surveys of the keyspace beyond the routing table (one every 10 minutes while a node searches, once a bucket is full), and copies dropped once other nodes own and hold them.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (outcome) (rate(`+metrics.RepairPasses+`{instance=~"$instance"}[$__rate_interval]))`, "passes {{outcome}}")).
		WithTarget(query("B", `sum by (instance) (rate(`+metrics.HandoffPosts+`{instance=~"$instance"}[$__rate_interval]))`, "handoffs {{instance}}")).
		WithTarget(query("C", `sum by (instance) (rate(`+metrics.OwnerLookups+`{instance=~"$instance"}[$__rate_interval]))`, "owner lookups {{instance}}")).
		WithTarget(query("D", `sum by (instance) (rate(`+metrics.EvictedPosts+`{instance=~"$instance"}[$__rate_interval]))`, "evicted {{instance}}")).
		WithTarget(query("E", `sum by (instance) (rate(`+metrics.SurveyLookups+`{instance=~"$instance"}[$__rate_interval]))`, "survey lookups {{instance}}")))
	b.WithPanel(timeseriesPanel(13, 8).
		Title("Repair lag").
		Description("Time since each node's last repair pass without error.").
		Unit(units.Seconds).
		WithTarget(query("A", `time() - `+metrics.RepairLastSuccess+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(14, 8).
		Title("Store requests served").
		Description("Store requests served to peers, by outcome; and posts in them.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (outcome) (rate(`+metrics.StoreRequests+`{instance=~"$instance"}[$__rate_interval]))`, "requests {{outcome}}")).
		WithTarget(query("B", `sum by (outcome) (rate(`+metrics.StorePosts+`{instance=~"$instance"}[$__rate_interval]))`, "posts {{outcome}}")))
	b.WithPanel(timeseriesPanel(15, 8).
		Title("Writes short of W").
		Description("Writes that did not reach W owner acknowledgements.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (instance) (rate(`+metrics.PlacementShort+`{instance=~"$instance"}[$__rate_interval]))`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(16, 8).
		Title("Protocol traffic").
		Description("Bytes per second on murmur's protocols, by protocol and direction.").
		Unit(units.BytesPerSecondSI).
		WithTarget(query("A", `sum by (protocol, direction) (rate(`+metrics.ProtocolBytes+`{instance=~"$instance"}[$__rate_interval]))`, "{{protocol}} {{direction}}")))
	b.WithPanel(timeseriesPanel(17, 8).
		Title("libp2p connections").
		Description("Open connections by direction (resource manager, system scope).").
		Unit(units.Short).
		WithTarget(query("A", `sum by (instance, dir) (libp2p_rcmgr_connections{instance=~"$instance",scope="system"})`, "{{instance}} {{dir}}")))
	b.WithPanel(timeseriesPanel(18, 8).
		Title("libp2p dial errors").
		Description("Failed dials per second, by error.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (error) (rate(libp2p_swarm_dial_errors_total{instance=~"$instance"}[$__rate_interval]))`, "{{error}}")))
	b.WithPanel(timeseriesPanel(19, 8).
		Title("DHT RPCs received").
		Description("Kademlia messages received per second, by type.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (message_type) (rate(rpc_inbound_messages_total{instance=~"$instance"}[$__rate_interval]))`, "{{message_type}}")))
	b.WithPanel(timeseriesPanel(20, 8).
		Title("DHT outbound request latency (p95)").
		Description("95th percentile of Kademlia request latency.").
		Unit(units.Milliseconds).
		WithTarget(query("A", `histogram_quantile(0.95, sum by (le) (rate(rpc_outbound_request_latency_milliseconds_bucket{instance=~"$instance"}[$__rate_interval])))`, "p95")))
	b.WithPanel(timeseriesPanel(21, 8).
		Title("Identify and hole punching").
		Description("Identify exchanges and direct-connection upgrades per second.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (dir) (rate(libp2p_identify_identify_total{instance=~"$instance"}[$__rate_interval]))`, "identify {{dir}}")).
		WithTarget(query("B", `sum by (outcome) (rate(libp2p_holepunch_direct_dials_total{instance=~"$instance"}[$__rate_interval]))`, "hole punch {{outcome}}")).
		WithTarget(query("C", `sum by (outcome) (rate(`+metrics.HolePunches+`{instance=~"$instance"}[$__rate_interval]))`, "murmur hole punch {{outcome}}")))
	b.WithPanel(timeseriesPanel(57, 24).
		Title("Reachability and DHT mode").
		Unit(units.Short).
		Description("The selected nodes by AutoNAT's verdict on their reachability (unknown, public, private), and how many serve the DHT and own keys (servers) or use it as clients (unreachable, or --dht-mode client).").
		WithTarget(query("A", `sum by (reachability) (`+metrics.Reachability+`{instance=~"$instance"})`, "{{reachability}}")).
		WithTarget(query("B", `sum(`+metrics.DHTServer+`{instance=~"$instance"})`, "DHT servers")).
		WithTarget(query("C", `count(`+metrics.DHTServer+`{instance=~"$instance"}) - sum(`+metrics.DHTServer+`{instance=~"$instance"})`, "DHT clients")))
}

// defencesRow adds the Defences row: what nodes refused of what peers sent,
// by reason (README, "Threat model"), and the resource manager's blocks.
func defencesRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(52, "Defences"))
	b.WithPanel(timeseriesPanel(53, 12).
		Title("Refused, by reason").
		Description("What the selected nodes refused of what peers sent, per second: whole requests (rate_limited, busy, slow_request, too_large, memory, malformed, work_budget), keys and posts (not_owner, author_rate, disk_full), tombstones (wrong_author) statistics (implausible, outvoted), and peers or posts that did not pay (identity, post_work).").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (protocol, reason) (rate(`+metrics.Refused+`{instance=~"$instance"}[$__rate_interval]))`, "{{protocol}} {{reason}}")))
	b.WithPanel(timeseriesPanel(54, 12).
		Title("Refused, by node").
		Description("Refusals per second on each node, all reasons: a node under attack stands out.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (instance) (rate(`+metrics.Refused+`{instance=~"$instance"}[$__rate_interval]))`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(55, 24).
		Title("Owners caught by queriers").
		Description("What the selected nodes' searches caught owners at, per second: an owner that counted fewer matches of a query than another owner of the same key (asked last for that key for 10 minutes), and hits whose score an owner sent differs from the one the querier computed. Either means an owner is still catching up after a change of membership, or lies.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum(rate(`+metrics.OwnerDisagreements+`{instance=~"$instance"}[$__rate_interval]))`, "owners short of matches")).
		WithTarget(query("B", `sum(rate(`+metrics.QueryRescored+`{instance=~"$instance"}[$__rate_interval]))`, "hits rescored")))
	b.WithPanel(timeseriesPanel(58, 24).
		Title("Requests beyond a peer's rate").
		Description("The selected nodes' own requests to peers that waited for the peer's rate (paced) or were given up unsent, those sent beyond it on capacity the peer lent (borrowed; refused ones are sent again within the rate), and peers' requests these nodes served beyond their rate from spare capacity (lent), per second. Steady unsent requests mean the node asks more than its peers take and lend.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (protocol) (rate(`+metrics.RequestsPaced+`{instance=~"$instance"}[$__rate_interval]))`, "paced {{protocol}}")).
		WithTarget(query("B", `sum by (protocol) (rate(`+metrics.RequestsUnsent+`{instance=~"$instance"}[$__rate_interval]))`, "unsent {{protocol}}")).
		WithTarget(query("C", `sum by (protocol, outcome) (rate(`+metrics.RequestsBorrowed+`{instance=~"$instance"}[$__rate_interval]))`, "borrowed {{protocol}} {{outcome}}")).
		WithTarget(query("D", `sum by (protocol) (rate(`+metrics.RequestsLent+`{instance=~"$instance"}[$__rate_interval]))`, "lent {{protocol}}")))
}

// ingestRow adds the Ingest row: posts accepted and rejected, indexing
// batches, and the HTTP API.
func ingestRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(22, "Ingest"))
	b.WithPanel(timeseriesPanel(23, 8).
		Title("Posts accepted").
		Description("Posts stored per second, by how they arrived.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (source) (rate(`+metrics.PostsAccepted+`{instance=~"$instance"}[$__rate_interval]))`, "{{source}}")))
	b.WithPanel(timeseriesPanel(24, 8).
		Title("Posts rejected").
		Description("Posts refused per second, by reason.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (reason) (rate(`+metrics.PostsRejected+`{instance=~"$instance"}[$__rate_interval]))`, "{{reason}}")))
	b.WithPanel(timeseriesPanel(25, 8).
		Title("Index batch latency").
		Description("Time to index and persist one batch (p50, p99).").
		Unit(units.Seconds).
		WithTarget(query("A", `histogram_quantile(0.5, sum by (le) (rate(`+metrics.IndexBatchSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "p50")).
		WithTarget(query("B", `histogram_quantile(0.99, sum by (le) (rate(`+metrics.IndexBatchSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "p99")))
	b.WithPanel(timeseriesPanel(26, 8).
		Title("Index batch size").
		Description("Posts per index batch (mean).").
		Unit(units.Short).
		WithTarget(query("A", `sum(rate(`+metrics.IndexBatchPosts+`_sum{instance=~"$instance"}[$__rate_interval])) / sum(rate(`+metrics.IndexBatchPosts+`_count{instance=~"$instance"}[$__rate_interval]))`, "posts per batch")))
	b.WithPanel(timeseriesPanel(27, 16).
		Title("API requests").
		Description("HTTP API requests per second, by route and status class.").
		Unit(units.RequestsPerSecond).
		WithTarget(query("A", `sum by (route, code) (rate(`+metrics.HTTPRequests+`{instance=~"$instance"}[$__rate_interval]))`, "{{route}} {{code}}")))
}

// searchRow adds the Search row: rate, latency by scope and by phase,
// fan-out width, partial answers, and searches served to peers.
func searchRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(28, "Search"))
	b.WithPanel(timeseriesPanel(29, 8).
		Title("Search rate").
		Description("API searches per second, by outcome (ok, bad_request for refused queries, error).").
		Unit(units.RequestsPerSecond).
		WithTarget(query("A", `sum by (outcome) (rate(`+metrics.SearchRequests+`{instance=~"$instance"}[$__rate_interval]))`, "{{outcome}}")))
	b.WithPanel(timeseriesPanel(30, 8).
		Title("Search latency by scope").
		Description("Median and 99th percentile of API search latency, by scope: network (the default: the owners of the query's keys are asked across the network) and local (this node's index only). Refused queries count under the scope asked for.").
		Unit(units.Seconds).
		WithTarget(query("A", `histogram_quantile(0.5, sum by (le, scope) (rate(`+metrics.SearchSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "{{scope}} p50")).
		WithTarget(query("B", `histogram_quantile(0.99, sum by (le, scope) (rate(`+metrics.SearchSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "{{scope}} p99")))
	b.WithPanel(timeseriesPanel(31, 8).
		Title("Network search phases").
		Description("Median and 99th percentile of the time a network search spends in each phase: plan (parse, fetch term statistics from their owners, pick the keys), fanout (ask the owners of each key, hedged), merge (verify, merge and page on).").
		Unit(units.Seconds).
		WithTarget(query("A", `histogram_quantile(0.5, sum by (le, phase) (rate(`+metrics.QueryPhaseSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "{{phase}} p50")).
		WithTarget(query("B", `histogram_quantile(0.99, sum by (le, phase) (rate(`+metrics.QueryPhaseSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "{{phase}} p99")))
	b.WithPanel(timeseriesPanel(33, 8).
		Title("Peers asked per network search").
		Description("Distinct peers one network search asked: mean and 99th percentile. A routed search asks the owners of its plan's keys; a query the network cannot route (a lone prefix, wildcard, negation, language or date) asks a bounded number of peers.").
		Unit(units.Short).
		WithTarget(query("A", `sum(rate(`+metrics.QueryPeersAsked+`_sum{instance=~"$instance"}[$__rate_interval])) / sum(rate(`+metrics.QueryPeersAsked+`_count{instance=~"$instance"}[$__rate_interval]))`, "mean")).
		WithTarget(query("B", `histogram_quantile(0.99, sum by (le) (rate(`+metrics.QueryPeersAsked+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "p99")))
	b.WithPanel(timeseriesPanel(32, 8).
		Title("Partial answers").
		Description("Share of network searches answered partially (a shard of the query that no owner answered), per node: partial answers over network searches that fanned out. MurmurPartialAnswersRising fires above 5% for 10 minutes. Zero on a healthy network.").
		Unit(units.PercentUnit).
		WithTarget(query("A", `sum by (instance) (rate(`+metrics.QueryPartial+`{instance=~"$instance"}[$__rate_interval])) / sum by (instance) (rate(`+metrics.QueryPeersAsked+`_count{instance=~"$instance"}[$__rate_interval]))`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(50, 8).
		Title("Shards failed per network search").
		Description("Mean number of shards per network search that failed or timed out on every owner asked (murmur_query_peers_failed; for a query the network cannot route, the peers that failed). Any failure makes the answer partial. Zero on a healthy network.").
		Unit(units.Short).
		WithTarget(query("A", `sum by (instance) (rate(`+metrics.QueryPeersFailed+`_sum{instance=~"$instance"}[$__rate_interval])) / sum by (instance) (rate(`+metrics.QueryPeersFailed+`_count{instance=~"$instance"}[$__rate_interval]))`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(34, 12).
		Title("Searches served to peers").
		Description("Searches this node answered for other peers' network searches, by outcome (ok, error, rate_limited, rejected for malformed requests).").
		Unit(units.RequestsPerSecond).
		WithTarget(query("A", `sum by (outcome) (rate(`+metrics.SearchServed+`{instance=~"$instance"}[$__rate_interval]))`, "{{outcome}}")))
	b.WithPanel(timeseriesPanel(51, 12).
		Title("Search and stats protocol traffic").
		Description("Bytes per second on the search protocol (shard queries and their answers) and the stats protocol (key counts and collection summaries for network-wide BM25), by direction.").
		Unit(units.BytesPerSecondSI).
		WithTarget(query("A", `sum by (protocol, direction) (rate(`+metrics.ProtocolBytes+`{instance=~"$instance",protocol=~"search|stats"}[$__rate_interval]))`, "{{protocol}} {{direction}}")))
	b.WithPanel(timeseriesPanel(56, 24).
		Title("Live searches kept for peers").
		Description("Standing searches other nodes keep at the selected nodes as owners (murmur search --follow, /api/v1/stream, live result pages), the posts pushed to them per second, and the matches dropped per second because a search was over its push rate (20/s) or its queue was full.").
		Unit(units.Short).
		WithTarget(query("A", `sum(`+metrics.LiveSubscriptions+`{instance=~"$instance"})`, "standing searches")).
		WithTarget(query("B", `sum(rate(`+metrics.LivePushes+`{instance=~"$instance"}[$__rate_interval]))`, "pushed /s")).
		WithTarget(query("C", `sum(rate(`+metrics.LiveDropped+`{instance=~"$instance"}[$__rate_interval]))`, "dropped /s")))
}

// indexRow adds the Index row: documents and bytes on disk.
func indexRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(35, "Index"))
	b.WithPanel(timeseriesPanel(36, 8).
		Title("Documents").
		Description("Posts in each node's local index.").
		Unit(units.Short).
		WithTarget(query("A", metrics.IndexDocuments+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(37, 8).
		Title("Index size on disk").
		Description("Bytes of each node's index on disk.").
		Unit(units.BytesIEC).
		WithTarget(query("A", metrics.IndexDiskBytes+`{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(38, 8).
		Title("Bytes per post").
		Description("Index bytes on disk per post held.").
		Unit(units.BytesIEC).
		WithTarget(query("A", metrics.IndexDiskBytes+`{instance=~"$instance"} / `+metrics.IndexDocuments+`{instance=~"$instance"}`, "{{instance}}")))
}

// crawlRow adds the Crawl row: fetches, items ingested and sources.
func crawlRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(39, "Crawl"))
	b.WithPanel(timeseriesPanel(40, 8).
		Title("Fetches").
		Description("Crawl fetches per second, by status.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (status) (rate(`+metrics.CrawlFetches+`{instance=~"$instance"}[$__rate_interval]))`, "{{status}}")))
	b.WithPanel(timeseriesPanel(41, 8).
		Title("Items ingested").
		Description("Crawled items stored as posts per second.").
		Unit(units.OpsPerSecond).
		WithTarget(query("A", `sum by (instance) (rate(`+metrics.CrawlItemsIngested+`{instance=~"$instance"}[$__rate_interval]))`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(42, 8).
		Title("Sources").
		Description("Sources each crawler follows, by the outcome of their last fetch.").
		Unit(units.Short).
		WithTarget(query("A", `sum by (status) (`+metrics.CrawlSources+`{instance=~"$instance"})`, "{{status}}")))
	b.WithPanel(timeseriesPanel(43, 8).
		Title("Fetch latency (p95)").
		Description("95th percentile of one crawl fetch.").
		Unit(units.Seconds).
		WithTarget(query("A", `histogram_quantile(0.95, sum by (le) (rate(`+metrics.CrawlFetchSeconds+`_bucket{instance=~"$instance"}[$__rate_interval])))`, "p95")))
}

// processRow adds the Process row: CPU, memory, goroutines, file
// descriptors and GC.
func processRow(b *dashboard.DashboardBuilder) {
	b.WithRow(row(44, "Process"))
	b.WithPanel(timeseriesPanel(45, 8).
		Title("CPU").
		Description("CPU seconds per second used by each node.").
		Unit(units.PercentUnit).
		WithTarget(query("A", `rate(process_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(46, 8).
		Title("Memory").
		Description("Resident memory and Go heap in use.").
		Unit(units.BytesIEC).
		WithTarget(query("A", `process_resident_memory_bytes{instance=~"$instance"}`, "rss {{instance}}")).
		WithTarget(query("B", `go_memstats_heap_inuse_bytes{instance=~"$instance"}`, "heap {{instance}}")))
	b.WithPanel(timeseriesPanel(47, 8).
		Title("Goroutines").
		Description("Goroutines of each node.").
		Unit(units.Short).
		WithTarget(query("A", `go_goroutines{instance=~"$instance"}`, "{{instance}}")))
	b.WithPanel(timeseriesPanel(48, 8).
		Title("File descriptors").
		Description("Open file descriptors against the limit.").
		Unit(units.Short).
		WithTarget(query("A", `process_open_fds{instance=~"$instance"}`, "open {{instance}}")).
		WithTarget(query("B", `process_max_fds{instance=~"$instance"}`, "max {{instance}}")))
	b.WithPanel(timeseriesPanel(49, 8).
		Title("GC pause (max)").
		Description("Longest recent garbage-collection pause.").
		Unit(units.Seconds).
		WithTarget(query("A", `go_gc_duration_seconds{instance=~"$instance",quantile="1"}`, "{{instance}}")))
}
