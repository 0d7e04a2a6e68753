// Package bench holds murmur's benchmarks: ingest into the local index
// against raw bleve batch indexing of the same texts, and query latency on
// the local index. They run only with -bench (see README.md); results are
// written down in docs/benchmarks.md.
package bench
