// Package index is a node's local store of posts: the protocol analyzer that
// turns text into terms, the bleve schema (BM25, exact keyword fields, the
// signed post stored once), and the on-disk bleve index with batched, durable
// writes.
package index
