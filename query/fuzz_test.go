package query

import (
	"errors"
	"testing"

	bleveQuery "github.com/blevesearch/bleve/v2/search/query"
)

func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.q)
	}
	for _, c := range parseErrors {
		f.Add(c.q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): %v is not a SyntaxError", q, err)
			}
			if se.Pos < 0 || se.Pos > len(q) {
				t.Fatalf("Parse(%q): position %d outside the query", q, se.Pos)
			}
			return
		}
		if n == nil {
			t.Fatalf("Parse(%q) returned no tree and no error", q)
		}
		cq, err := Compile(n)
		if err != nil {
			t.Fatalf("Compile(Parse(%q)): %v", q, err)
		}
		if v, ok := cq.(bleveQuery.ValidatableQuery); ok {
			if err := v.Validate(); err != nil {
				t.Fatalf("Compile(Parse(%q)) is not valid: %v", q, err)
			}
		}
		_ = PositiveTerms(n)
		_ = n.String()
	})
}
