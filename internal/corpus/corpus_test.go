package corpus

import (
	"testing"

	"github.com/murmur-p2p/murmur/internal/testenv"
)

func TestSplit(t *testing.T) {
	got := split([]byte("one\n  two\n%\n\n%\nthree\tfour\n%\n"))
	if len(got) != 2 || got[0] != "one two" || got[1] != "three four" {
		t.Fatalf("split = %q", got)
	}
}

func TestLoadHasSeveralLanguages(t *testing.T) {
	testenv.Need(t, Available(), "the fortunes corpus", InstallHint)
	entries, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	byLang := map[string]int{}
	for _, e := range entries {
		byLang[e.Lang]++
	}
	t.Logf("%d entries: %v", len(entries), byLang)
	if len(entries) < 20000 {
		t.Errorf("only %d entries", len(entries))
	}
	for _, l := range []string{"en", "de", "es", "it", "ru", "pl", "cs", "zh", "pt"} {
		if byLang[l] == 0 {
			t.Errorf("no %s entries", l)
		}
	}
}
