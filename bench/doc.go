// Package bench holds murmur's benchmarks: ingest into the local index
// against raw bleve batch indexing of the same texts and query latency on
// the local index; ingest, memory and search of networks of real nodes
// against one index over the same posts; and honest work under each attack
// of internal/adversary. They run only with -bench (see README.md); results
// are written down in docs/benchmarks.md.
package bench
