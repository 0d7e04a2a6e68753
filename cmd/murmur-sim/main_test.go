package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/murmur-p2p/murmur/internal/corpus"
	"github.com/murmur-p2p/murmur/internal/testenv"
)

// TestRunPrintsAReport: a small simulation prints a JSON report with the
// figures the command documents, and progress on stderr; bad flags fail
// with a message that names them.
func TestRunPrintsAReport(t *testing.T) {
	for _, args := range [][]string{{"--nodes", "0"}, {"--churn", "weekly"}, {"--repair-delay", "0s", "--churn", "ipfs"}, {"--settle", "nearby", "--churn", "ipfs"}, {"--queries", "-1"}, {"--limit", "5000"}, {"--rtt", "30ms-10ms"}, {"--rtt", "fast"}, {"--loss", "1"}, {"--split-at", "-3"}} {
		var out, errs bytes.Buffer
		err := run(args, &out, &errs)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v, want an error naming %s", args, err, args[0])
		}
	}
	testenv.Need(t, corpus.Available(), "the fortunes corpus", corpus.InstallHint)
	var out, errs bytes.Buffer
	if err := run([]string{"--nodes", "12", "--posts", "200", "--queries", "12", "--json", "--dir", t.TempDir()}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"nodes", "recall", "messages_per_query", "bytes_per_query", "lookups_per_query", "placement_bytes_per_post", "heap_bytes_per_node"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("the report has no %q", k)
		}
	}
	if rep["nodes"] != 12.0 || rep["recall"] != 1.0 || rep["split_terms"] != 0.0 {
		t.Errorf("nodes %v, recall %v, split terms %v; want 12, 1 and 0 (no term of 200 posts reaches the network's threshold)", rep["nodes"], rep["recall"], rep["split_terms"])
	}
	if !strings.Contains(errs.String(), "searches") {
		t.Errorf("no progress on stderr: %q", errs.String())
	}

	// Terms of 8 posts or more split, and the search finds every one.
	out.Reset()
	if err := run([]string{"--nodes", "12", "--posts", "200", "--queries", "12", "--split-at", "8", "--json", "--dir", t.TempDir()}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	rep = nil
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if n, _ := rep["split_terms"].(float64); n == 0 || rep["recall"] != 1.0 {
		t.Errorf("--split-at 8: %v split terms, recall %v; want some and 1", rep["split_terms"], rep["recall"])
	}

	// Over links of 30 ms every search waits a round trip at least, and
	// finds the same.
	out.Reset()
	if err := run([]string{"--nodes", "12", "--posts", "200", "--queries", "12", "--rtt", "30ms", "--json", "--dir", t.TempDir()}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	rep = nil
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if p50, _ := rep["latency_p50_ms"].(float64); p50 < 30 || rep["recall"] != 1.0 {
		t.Errorf("over 30 ms links: p50 %v ms, recall %v; want at least 30 and 1", rep["latency_p50_ms"], rep["recall"])
	}
}
