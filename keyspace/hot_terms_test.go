package keyspace

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	_ "github.com/blevesearch/bleve/v2/analysis/lang/cs"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/de"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/en"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/es"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fr"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/it"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/pt"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ru"
	"github.com/blevesearch/bleve/v2/registry"
)

// updateHotTerms rewrites hot_terms.txt from bleve's stop lists, which is
// how it was made: go test ./keyspace -run TestHotTermsArePinned
// -update-hot-terms. The list is pinned; see hotTermsFile.
var updateHotTerms = flag.Bool("update-hot-terms", false, "rewrite hot_terms.txt from bleve's stop lists")

// bleveStopLists are the stop lists hot_terms.txt was taken from.
var bleveStopLists = []string{"stop_en", "stop_de", "stop_es", "stop_fr", "stop_it", "stop_pt", "stop_ru", "stop_cs"}

// TestHotTermsArePinned: the hot terms come from the pinned file, whose
// digest is HotTermsDigest; it is sorted, without repeats or empty lines,
// lower-cased as the index stores terms, and within MaxHotTerms. A change
// in bleve's stop lists changes nothing murmur measures (it is only logged).
func TestHotTermsArePinned(t *testing.T) {
	fromBleve := map[string]bool{}
	cache := registry.NewCache()
	for _, name := range bleveStopLists {
		tm, err := cache.TokenMapNamed(name)
		if err != nil {
			t.Fatalf("bleve's stop words %s: %v", name, err)
		}
		for w := range tm {
			fromBleve[strings.ToLower(w)] = true
		}
	}
	if *updateHotTerms {
		var lines []string
		for w := range fromBleve {
			lines = append(lines, w)
		}
		slices.Sort(lines)
		body := strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile("hot_terms.txt", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		t.Fatalf("hot_terms.txt rewritten with %d terms: set HotTermsDigest to %q", len(lines), hex.EncodeToString(sum[:]))
	}
	sum := sha256.Sum256([]byte(hotTermsFile))
	if got := hex.EncodeToString(sum[:]); got != HotTermsDigest {
		t.Fatalf("hot_terms.txt has digest %s, HotTermsDigest pins %s", got, HotTermsDigest)
	}
	terms := HotTerms()
	lines := strings.Split(strings.TrimSuffix(hotTermsFile, "\n"), "\n")
	if !slices.Equal(lines, terms) || !slices.IsSorted(lines) {
		t.Fatal("hot_terms.txt is not sorted or repeats a term")
	}
	if len(terms) == 0 || len(terms) > MaxHotTerms {
		t.Fatalf("%d hot terms, want 1 to %d", len(terms), MaxHotTerms)
	}
	for _, w := range terms {
		if w == "" || w != strings.ToLower(w) || strings.ContainsAny(w, " \t/") {
			t.Fatalf("hot term %q: empty, upper-case, or holds a space or slash", w)
		}
		if !IsHot(w) {
			t.Fatalf("%q is listed but not hot", w)
		}
	}
	for _, w := range []string{"the", "und", "los", "les", "della", "não", "что", "jsem"} {
		if !IsHot(w) {
			t.Errorf("%q is not hot", w)
		}
	}
	for _, w := range []string{"heron", "murmur", ""} {
		if IsHot(w) {
			t.Errorf("%q is hot", w)
		}
	}
	var added, removed int
	for w := range fromBleve {
		if !IsHot(w) {
			added++
		}
	}
	for _, w := range terms {
		if !fromBleve[w] {
			removed++
		}
	}
	if added+removed > 0 {
		t.Logf("bleve's stop lists now differ from the pinned hot terms: %d new, %d gone (the pinned list stands)", added, removed)
	}
}
