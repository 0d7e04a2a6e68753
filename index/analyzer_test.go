package index

import (
	"reflect"
	"testing"
)

func TestTerms(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"Hello, World!", []string{"hello", "world"}},
		{"Learning #Rust today", []string{"#rust", "learning", "rust", "today"}},
		{"ping @Alice and @bob@social.example.org", []string{"@alice", "@bob@social.example.org", "alice", "and", "bob", "ping"}},
		{"thanks <@adasi>", []string{"@adasi", "adasi", "thanks"}},
		{"_so_ *very* __important__ snake_case", []string{"important", "snake_case", "so", "very"}},
		{"@_x_ #_y_", []string{"#_y_", "@_x_", "x", "y"}},
		{"see https://www.Example.COM:8080/a/b?c=d.", []string{"example.com", "see"}},
		{"(https://blog.example.net/post)", []string{"blog.example.net"}},
		{"mail bob@example.org now", []string{"bob", "example.org", "mail", "now"}},
		{"a#b", []string{"a", "b"}},
		{"Straße ÜBER café", []string{"café", "straße", "über"}},
		{"Привет, МИР", []string{"мир", "привет"}},
		{"don't stop", []string{"don't", "stop"}},
		{"#日本 語", []string{"#日本", "日", "本", "語"}},
		{"   ", []string{}},
	}
	for _, c := range cases {
		got := Terms(c.text)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Terms(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestTokenOffsetsAndPositions(t *testing.T) {
	text := "Go #golang now"
	toks := Tokens(text)
	want := []Token{
		{"go", 0, 2, 1},
		{"#golang", 3, 10, 2},
		{"golang", 4, 10, 2},
		{"now", 11, 14, 3},
	}
	if !reflect.DeepEqual(toks, want) {
		t.Fatalf("Tokens(%q) = %+v, want %+v", text, toks, want)
	}
}

// FuzzSpecialSpans checks that skipping the regular expression on texts
// without '#', '@' or "://" never loses a tag, mention or URL: the spans
// are those of the expression itself on every input.
func FuzzSpecialSpans(f *testing.F) {
	for _, s := range []string{
		"plain words only", "#tag and @bob", "see https://example.org/x.", "HTTP://A.B",
		"bob@example.org", "a:// b", "mid#word", "@alice@social.example", "", "#", "ﾟ#日本",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		got, want := specialSpans(input), specialPattern.FindAllIndex(input, -1)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("specialSpans(%q) = %v, the expression finds %v", input, got, want)
		}
	})
}
