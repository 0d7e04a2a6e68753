package keyspace

import (
	"slices"
	"testing"
	"time"

	"github.com/murmur-p2p/murmur/index"
	"github.com/murmur-p2p/murmur/internal/testkit"
	"github.com/murmur-p2p/murmur/post"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Key
		ok   bool
	}{
		{"t/heron", Key{Class: ClassTerm, Value: "heron"}, true},
		{"t/the", Key{Class: ClassTerm, Value: "the"}, true},         // a stop word is one key, as any term
		{"t/the/a", Key{Class: ClassTerm, Value: "the/a"}, true},     // a term is never a shard: one that ends in "/x" is the term
		{"t/heron/d", Key{Class: ClassTerm, Value: "heron/d"}, true}, // (protocol 3 split stop words 16 ways)
		{"a/12D3Koo/0", Key{Class: ClassAuthor, Value: "12D3Koo", Shard: "0"}, true},
		{"a/12D3Koo", Key{}, false}, // authors are always split
		{"l/fortune-en/f", Key{Class: ClassLabel, Value: "fortune-en", Shard: "f"}, true},
		{"x/heron", Key{}, false},
		{"t/", Key{}, false},
		{"heron", Key{}, false},
		{"", Key{}, false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

// TestKeysOfAPost: a post is stored under one key per distinct term (stop
// words too), its author's shard and its label's; each of those keys
// contains it, and names its class.
func TestKeysOfAPost(t *testing.T) {
	p, err := post.Sign(testkit.Key(t), post.Draft{Text: "The heron and the #reeds", Label: "Fortune-EN"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sh := ShardOf(p.ID)
	want := []string{"t/the", "t/heron", "t/and", "t/#reeds", "t/reeds", "a/" + p.Author + "/" + sh, "l/fortune-en/" + sh}
	got := Keys(p)
	if !testkit.SameSet(got, want) {
		t.Fatalf("Keys = %v, want %v", got, want)
	}
	names := map[string]string{}
	for _, k := range got {
		pk, err := Parse(k)
		if err != nil {
			t.Fatalf("Parse(%q): %v", k, err)
		}
		if !pk.Contains(p) {
			t.Errorf("key %s does not contain its own post", k)
		}
		names[k] = pk.Name()
	}
	if names["t/heron"] != NameTerm || names["t/the"] != NameTerm || names["a/"+p.Author+"/"+sh] != NameAuthor || names["l/fortune-en/"+sh] != NameLabel {
		t.Errorf("class names: %v", names)
	}
	other := Key{Class: ClassTerm, Value: "swan"}
	if other.Contains(p) {
		t.Error("t/swan contains a post without the word")
	}
	if !slices.Equal(OfField(index.FieldAuthor, p.Author), AuthorKeys(p.Author)) || len(OfField(index.FieldText, "the")) != 1 || len(OfField(index.FieldText, "heron")) != 1 {
		t.Error("OfField does not list the keys of a leaf")
	}
}

// FuzzParse: keys come from peers; any text either fails or parses into a
// key that prints back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"t/heron", "t/the/a", "a/x/0", "l/y/f", "t/c/d", "t//", "a//0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, k.String())
		}
		if _, err := Parse(k.String()); err != nil {
			t.Fatalf("a parsed key does not parse again: %v", err)
		}
	})
}

// TestShardsOfOneKey: two shards of one split key, and nothing else.
func TestShardsOfOneKey(t *testing.T) {
	the := LabelKeys("news")
	parse := func(k string) Key {
		t.Helper()
		p, err := Parse(k)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	and := LabelKeys("sports")
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{the[0], the[1], true},
		{the[0], the[0], true},
		{the[0], and[1], false},
		{the[0], TermKeys("heron")[0], false},
		{TermKeys("heron")[0], TermKeys("heron")[0], false},
	} {
		if got := parse(c.a).ShardsOfOneKey(parse(c.b)); got != c.want {
			t.Errorf("%s and %s: %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
