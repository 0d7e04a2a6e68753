package index

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/mapping"
)

// Field names of the index schema. The query package compiles searches
// against these names.
const (
	// FieldText is the post text, analyzed by the protocol analyzer, with term
	// positions (phrase queries need them). It is not stored: the post's bytes
	// are stored once, in FieldPost.
	FieldText = "text"
	// FieldAuthor is the author's peer ID, kept exactly.
	FieldAuthor = "author"
	// FieldLabel is the lower-cased author label of an imported or crawled post.
	FieldLabel = "label"
	// FieldLang is the lower-case language tag.
	FieldLang = "lang"
	// FieldCreatedAt is the creation time, a date field (range queries, sort).
	FieldCreatedAt = "created_at"
	// FieldReplyTo is the ID of the post this one answers.
	FieldReplyTo = "reply_to"
	// FieldShard is the first hex digit of the post ID: the shard of a split
	// key (an author, a label) that the post falls in, so an
	// owner can answer for one shard of its index.
	FieldShard = "shard"
	// FieldPost is the JSON encoding of the signed post, stored and not
	// indexed: searches return it so callers can verify every hit.
	FieldPost = "post"
)

// Document is what the index stores for one post.
type Document struct {
	Text      string `json:"text"`
	Author    string `json:"author"`
	Label     string `json:"label,omitempty"`
	Lang      string `json:"lang,omitempty"`
	CreatedAt string `json:"created_at"` // RFC 3339 with milliseconds
	ReplyTo   string `json:"reply_to,omitempty"`
	Shard     string `json:"shard"`
	Post      string `json:"post"`
}

// NewMapping returns the index mapping for posts: BM25 scoring, the protocol
// analyzer on text, exact keyword fields, a date field, and the stored post.
func NewMapping() mapping.IndexMapping {
	text := bleve.NewTextFieldMapping()
	text.Analyzer = AnalyzerName
	text.Store = false
	text.IncludeTermVectors = true // positions for phrase queries
	text.IncludeInAll = false
	text.DocValues = false

	kw := func(docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Analyzer = keyword.Name
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = docValues
		return f
	}

	created := bleve.NewDateTimeFieldMapping()
	created.Store = false
	created.IncludeInAll = false
	created.DocValues = true // sort=latest

	stored := bleve.NewTextFieldMapping()
	stored.Index = false
	stored.Store = true
	stored.IncludeTermVectors = false
	stored.IncludeInAll = false
	stored.DocValues = false

	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(FieldText, text)
	doc.AddFieldMappingsAt(FieldAuthor, kw(false))
	doc.AddFieldMappingsAt(FieldLabel, kw(false))
	doc.AddFieldMappingsAt(FieldLang, kw(true))
	doc.AddFieldMappingsAt(FieldCreatedAt, created)
	doc.AddFieldMappingsAt(FieldReplyTo, kw(false))
	doc.AddFieldMappingsAt(FieldShard, kw(false))
	doc.AddFieldMappingsAt(FieldPost, stored)

	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = AnalyzerName
	m.ScoringModel = "bm25"
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m
}
