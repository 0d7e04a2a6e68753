package post

// Limits of a post. They are part of the protocol: every node enforces the same
// ones, so a post accepted by one node is accepted by all.
const (
	// MaxTextChars is the most Unicode code points a post's text may hold.
	MaxTextChars = 1000
	// MaxLangLen bounds the language tag (BCP 47, e.g. "en" or "pt-BR").
	MaxLangLen = 16
	// MaxLabelLen bounds the author label an import or a crawl keeps on a post.
	MaxLabelLen = 200
	// MaxSourceLen bounds the source URL of a crawled post.
	MaxSourceLen = 2048
	// MaxWork bounds the proof of work a post may claim, in leading zero
	// bits of its ID (Post.Work).
	MaxWork = 40
	// MaxFutureSkew is how far in the future created_at may lie, to allow for
	// clocks that disagree a little.
	MaxFutureSkew = 10 * 60 // seconds
	// MaxEncodedSize bounds the JSON encoding of one record; decoders refuse
	// larger input before parsing it. Text is at most 4 KB of UTF-8, which JSON
	// escaping can grow to at most 24 KB; the other fields add under 3 KB.
	MaxEncodedSize = 32 << 10
)
