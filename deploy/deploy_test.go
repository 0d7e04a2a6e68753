// Package deploy_test checks the deployment files of deploy/ and the
// top-level docker-compose.yml against real tools: promtool, Debian's
// prometheus scraping real murmur nodes, and the Docker engine running the
// node image built from this repo.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/api/server"
	"github.com/murmur-p2p/murmur/internal/poll"
	"github.com/murmur-p2p/murmur/internal/testenv"
)

// emptyOnHealthyNetwork lists panels that count failures a healthy test
// network never has: their series appear only once one happens.
// Hole punching needs relays and NATs, which a loopback network never has.
var emptyOnHealthyNetwork = []string{
	"libp2p dial errors",
	"Identify and hole punching",
}

const (
	promInstall   = "apt-get install prometheus (Debian's prometheus and promtool)"
	dockerInstall = "apt-get install docker.io docker-compose, and a running Docker engine"
)

var repo = func() string { d, _ := filepath.Abs(".."); return d }()

// binary builds cmd/murmur once per test process, static (CGO_ENABLED=0), so
// the same file runs on the host and in the scratch image.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "murmur-deploy-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "murmur")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/murmur")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/murmur: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := binary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func needBinary(t *testing.T) string {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func havePromtool() bool {
	_, err := exec.LookPath("promtool")
	return err == nil
}

func havePrometheus() bool {
	_, err := exec.LookPath("prometheus")
	return err == nil && havePromtool()
}

// run runs a command and fails t with its output if it fails.
func run(t *testing.T, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repo
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtoolChecks checks the repo's Prometheus configuration and rules
// with promtool, and runs the rules' unit tests.
func TestPromtoolChecks(t *testing.T) {
	testenv.Need(t, havePromtool(), "promtool", promInstall)
	run(t, nil, "promtool", "check", "config", "deploy/prometheus/prometheus.yml")
	run(t, nil, "promtool", "check", "rules", "deploy/prometheus/rules.yml")
	run(t, nil, "promtool", "test", "rules", "deploy/prometheus/rules_test.yml")
}

// panelQuery is one query of one panel of the dashboard.
type panelQuery struct {
	Panel string
	Expr  string
}

// dashboard is the part of the shipped dashboard's JSON the tests read.
type dashboard struct {
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID          int    `json:"id"`
		Type        string `json:"type"`
		Title       string `json:"title"`
		Description string `json:"description"`
		Datasource  struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		FieldConfig struct {
			Defaults struct {
				Unit string `json:"unit"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// readDashboard decodes the shipped dashboard.
func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "deploy/grafana/dashboards/murmur.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// dashboardQueries reads every panel query of the shipped dashboard and
// checks the dashboard's shape: templated by instance, every panel on the
// templated data source, unique panel IDs.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	d := readDashboard(t)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["instance"] || !vars["datasource"] {
		t.Errorf("dashboard variables %v: want instance and datasource", vars)
	}
	ids := map[int]bool{}
	var qs []panelQuery
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q is not templated by instance", p.Title, tg.Expr)
			}
			qs = append(qs, panelQuery{p.Title, tg.Expr})
		}
	}
	if len(qs) < 30 {
		t.Fatalf("dashboard has %d panel queries; expected the full dashboard", len(qs))
	}
	return qs
}

// rangeSelector finds the range of every range vector selector of a query.
var rangeSelector = regexp.MustCompile(`\}?\[([^\]]*)\]`)

// TestDashboardPanels checks every panel of the dashboard has what an
// operator reads: a title, a description and a unit; and that every rate
// uses $__rate_interval, which Grafana keeps at least four scrape intervals
// wide whatever the zoom.
func TestDashboardPanels(t *testing.T) {
	d := readDashboard(t)
	for i, p := range d.Panels {
		if strings.TrimSpace(p.Title) == "" {
			t.Errorf("panel %d has no title", i)
		}
		if p.Type == "row" {
			continue
		}
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range rangeSelector.FindAllStringSubmatch(tg.Expr, -1) {
				if m[1] != "$__rate_interval" {
					t.Errorf("panel %q: range [%s] in %q; use [$__rate_interval]", p.Title, m[1], tg.Expr)
				}
			}
		}
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a process started by the test and stopped at its end.
type proc struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

// start starts a process, with its output kept for failure reports; the
// process is interrupted (then killed) and waited for at the end of the test.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), log: &bytes.Buffer{}, done: make(chan struct{})}
	w := &lockedWriter{w: p.log}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", name, strings.Join(args, " "), w.String())
		}
	})
	return p
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// waitFor polls cond until it returns nil, or fails with its last error.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	poll.UntilOK(t, what, timeout, 200*time.Millisecond, cond)
}

func httpOK(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// startNodes starts n murmur nodes as processes of the built binary on free
// ports and waits until each is ready. With the network, the first one
// bootstraps the others through an addresses file.
func startNodes(t *testing.T, n int, extra ...[]string) []string {
	t.Helper()
	bin := needBinary(t)
	dir := t.TempDir()
	addrsFile := filepath.Join(dir, "bootstrap.addrs")
	var apis []string
	for i := range n {
		api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		args := []string{"node", "--data", filepath.Join(dir, fmt.Sprintf("node%d", i)), "--api", api,
			"--listen", "/ip4/127.0.0.1/tcp/0", "--network", fmt.Sprintf("deploy-test-%d", os.Getpid()), "--mdns=false", "--id-difficulty", "6", "--post-difficulty", "6"}
		if i == 0 {
			args = append(args, "--addrs-file", addrsFile)
		} else {
			args = append(args, "--bootstrap-file", addrsFile)
		}
		if i < len(extra) {
			args = append(args, extra[i]...)
		}
		start(t, bin, args...)
		apis = append(apis, api)
	}
	for _, a := range apis {
		waitFor(t, "node "+a+" ready", 60*time.Second, func() error { return httpOK("http://" + a + "/readyz") })
	}
	return apis
}

// prometheusConfig turns the repo's Prometheus configuration into the test's:
// the same jobs and rules, with the murmur job's targets replaced by the
// test's nodes, the prometheus job's by the test's server, and 1 s intervals.
func prometheusConfig(t *testing.T, nodes []string, self string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	global, _ := cfg["global"].(map[string]any)
	if global == nil {
		t.Fatal("prometheus.yml has no global section")
	}
	global["scrape_interval"], global["evaluation_interval"] = "1s", "1s"
	rules, _ := cfg["rule_files"].([]any)
	for i, r := range rules {
		rules[i] = filepath.Join(repo, "deploy/prometheus", r.(string))
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	seen := map[string]bool{}
	for _, j := range jobs {
		job := j.(map[string]any)
		name, _ := job["job_name"].(string)
		seen[name] = true
		switch name {
		case "murmur":
			job["static_configs"] = []any{map[string]any{"targets": nodes}}
		case "prometheus":
			job["static_configs"] = []any{map[string]any{"targets": []string{self}}}
		default:
			t.Fatalf("prometheus.yml: unexpected job %q; teach the test its targets", name)
		}
	}
	if !seen["murmur"] {
		t.Fatal("prometheus.yml has no murmur job")
	}
	out, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// promResult is a Prometheus instant-query answer.
type promResult struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func promQuery(prom, expr string) (*promResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+prom+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode answer to %q: %w", expr, err)
	}
	if r.Status != "success" {
		return &r, fmt.Errorf("query %q: %s: %s", expr, r.ErrorType, r.Error)
	}
	return &r, nil
}

// grafanaVars replaces the dashboard's variables as Grafana would with every
// node selected.
var grafanaVars = strings.NewReplacer(`$instance`, `.*`, `$__rate_interval`, `15s`)

// TestPrometheusScrapesDashboard runs three real nodes and Debian's
// prometheus with the repo's configuration and rules, sends posts and
// searches, and then asks Prometheus for every query of every dashboard
// panel and every recording rule: each must return data. promtool check
// metrics must pass on each node's real /metrics.
func TestPrometheusScrapesDashboard(t *testing.T) {
	testenv.Need(t, havePrometheus(), "prometheus", promInstall)
	queries := dashboardQueries(t)
	// With the default R=3, each of three nodes owns every key and answers
	// every shard itself: no network search would reach a peer. With R=2
	// a third of the keys live elsewhere, so searches fan out to peers and
	// fetch term counts over the stats protocol, as on a network larger
	// than R. W=1 keeps a busy machine's slow acknowledgement from failing
	// a post.
	flags := []string{"--replicas", "2", "--write-quorum", "1"}
	// The third node crawls a feed served here, for the crawl panels.
	nodes := startNodes(t, 3, flags, flags, append([]string{"--crawl", "--crawl-allow-private"}, flags...))
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, testFeed)
	}))
	defer feed.Close()
	run(t, nil, needBinary(t), "crawl", "add", "--api", nodes[2], feed.URL+"/feed.xml")

	for _, n := range nodes {
		body := fetch(t, "http://"+n+"/metrics")
		checkMetricsLint(t, body)
	}

	prom := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := prometheusConfig(t, nodes, prom)
	run(t, nil, "promtool", "check", "config", cfg)
	start(t, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+prom, "--log.level=warn")
	waitFor(t, "prometheus ready", 60*time.Second, func() error { return httpOK("http://" + prom + "/-/ready") })

	// Traffic for as long as the checks run, so every rate has increments
	// in its window: posts, a refused post, network searches (routed and
	// best-effort), local searches, a malformed search, an import.
	ctx, stopTraffic := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	trafficErr := make(chan error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			trafficErr <- traffic(ctx, api.NewClient(n), i)
		}()
	}
	defer func() {
		stopTraffic()
		wg.Wait()
		close(trafficErr)
		for err := range trafficErr {
			if err != nil {
				t.Errorf("traffic: %v", err)
			}
		}
	}()

	waitFor(t, "every node scraped", 60*time.Second, func() error {
		r, err := promQuery(prom, `sum(up{job="murmur"})`)
		if err != nil {
			return err
		}
		if len(r.Data.Result) != 1 || fmt.Sprint(r.Data.Result[0].Value[1]) != fmt.Sprint(len(nodes)) {
			return fmt.Errorf("up: %+v", r.Data.Result)
		}
		return nil
	})

	var pending []panelQuery
	for _, q := range queries {
		if !slices.Contains(emptyOnHealthyNetwork, q.Panel) {
			pending = append(pending, q)
		}
	}
	// Recording rules are asked by name: each must evaluate to data too.
	for _, rule := range recordingRules(t) {
		pending = append(pending, panelQuery{"rule " + rule, rule})
	}
	waitFor(t, "every panel query returns data", 90*time.Second, func() error {
		var still []panelQuery
		var firstErr error
		for _, q := range pending {
			r, err := promQuery(prom, grafanaVars.Replace(q.Expr))
			if err != nil {
				t.Fatalf("panel %q: %v", q.Panel, err) // a bad query never heals
			}
			if len(r.Data.Result) == 0 {
				still = append(still, q)
				if firstErr == nil {
					firstErr = fmt.Errorf("panel %q: no data for %s", q.Panel, q.Expr)
				}
			}
		}
		pending = still
		if firstErr != nil {
			names := make([]string, len(still))
			for i, q := range still {
				names[i] = q.Panel
			}
			return fmt.Errorf("%d queries without data (%s); first: %w", len(still), strings.Join(names, ", "), firstErr)
		}
		return nil
	})
	// The ingest and search panels must show the traffic, not just zeros.
	shown := []string{
		`sum(rate(murmur_posts_accepted_total[15s])) > 0`,
		`sum(rate(murmur_posts_rejected_total[15s])) > 0`,
		`sum(rate(murmur_search_requests_total{outcome="ok"}[15s])) > 0`,
		`sum(rate(murmur_search_requests_total{outcome="bad_request"}[15s])) > 0`,
		`sum(murmur_index_documents) > 0`,
		`sum(murmur_crawl_items_ingested_total) > 0`,
		`histogram_quantile(0.5, sum by (le) (rate(murmur_search_duration_seconds_bucket[15s]))) > 0`,
		`histogram_quantile(0.5, sum by (le) (rate(murmur_search_duration_seconds_bucket{scope="local"}[15s]))) > 0`,
	}
	shown = append(shown,
		// Every node searches the network, and each one's searches
		// fan out: its partial ratio is a number (0 here), not 0/0.
		fmt.Sprintf(`count(rate(murmur_search_duration_seconds_count{scope="network"}[15s]) > 0) == %d`, len(nodes)),
		fmt.Sprintf(`count(instance:murmur_query_partial:ratio_rate5m >= 0) == %d`, len(nodes)),
		`histogram_quantile(0.5, sum by (le) (rate(murmur_search_duration_seconds_bucket{scope="network"}[15s]))) > 0`,
		`count(histogram_quantile(0.5, sum by (le, phase) (rate(murmur_query_phase_duration_seconds_bucket[15s]))) > 0) == 3`,
		`histogram_quantile(0.5, sum by (le) (rate(murmur_query_peers_asked_bucket[15s]))) > 0`,
		`sum(rate(murmur_search_served_total{outcome="ok"}[15s])) > 0`,
		`sum(rate(murmur_protocol_bytes_total{protocol="search"}[15s])) > 0`,
		`sum(rate(murmur_protocol_bytes_total{protocol="stats"}[15s])) > 0`,
	)
	for _, expr := range shown {
		waitFor(t, expr, 30*time.Second, func() error {
			r, err := promQuery(prom, expr)
			if err != nil {
				return err
			}
			if len(r.Data.Result) == 0 {
				return errors.New("empty")
			}
			return nil
		})
	}
	checkRulesHealthy(t, prom)
}

const testFeed = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>deploy test</title><link>http://example.org/</link>
<description>a feed for the crawl panels</description>
<item><title>first</title><link>http://example.org/1</link><guid>http://example.org/1</guid>
<description>a crawled post about #murmur dashboards</description><pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate></item>
<item><title>second</title><link>http://example.org/2</link><guid>http://example.org/2</guid>
<description>another crawled post about grafana panels</description><pubDate>Tue, 03 Jan 2006 15:04:05 GMT</pubDate></item>
</channel></rss>`

// traffic posts, searches and imports through one node until ctx is done.
// Searches default to the network; some ask for a number posted a few steps
// before, a term whose count the node has not cached: when its key lives on
// another node, the count comes over the stats protocol, which therefore
// carries traffic all along, not only for the first search of each term.
func traffic(ctx context.Context, c *api.Client, node int) error {
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	wantBad := func(err error, what string) error {
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest {
			return nil
		}
		if err == nil {
			return errors.New(what + " was accepted")
		}
		return err
	}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var err error
		switch i % 8 {
		case 0, 4:
			_, err = c.Post(ctx, api.PostRequest{Text: fmt.Sprintf("node %d says hello #murmur number %d", node, i), Lang: "en"})
		case 1:
			_, err = c.Search(ctx, url.Values{"q": {"#murmur hello"}, "sort": {"latest"}})
		case 2:
			_, err = c.Post(ctx, api.PostRequest{Text: ""})
			err = wantBad(err, "an empty post")
		case 3:
			_, err = c.Search(ctx, url.Values{"q": {fmt.Sprintf("hello %d", i-3)}})
		case 5:
			_, err = c.Import(ctx, strings.NewReader(fmt.Sprintf(`{"text":"imported %d on node %d","lang":"en","author":"feed"}`+"\n", i, node)))
		case 6:
			_, err = c.Search(ctx, url.Values{"q": {"hello"}, "scope": {"local"}})
		case 7:
			switch i / 8 % 3 {
			case 0:
				_, err = c.Search(ctx, url.Values{"q": {"hello"}})
			case 1:
				// A lone prefix: the network cannot route it, so a
				// bounded number of peers answer (best effort).
				_, err = c.Search(ctx, url.Values{"q": {"hell*"}})
			case 2:
				_, err = c.Search(ctx, url.Values{"q": {`"unterminated`}})
				err = wantBad(err, "a malformed search")
			}
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("node %d, step %d: %w", node, i, err)
		}
	}
}

func fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", u, resp.Status, err)
	}
	return string(b)
}

// recordingRules lists the names recorded by rules.yml.
func recordingRules(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "deploy/prometheus/rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names = append(names, r.Record)
			}
		}
	}
	return names
}

// checkRulesHealthy asks Prometheus whether every rule evaluates without
// error, and that no alert fires on a healthy network.
func checkRulesHealthy(t *testing.T, prom string) {
	t.Helper()
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(fetch(t, "http://"+prom+"/api/v1/rules")), &r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health != "ok" {
				t.Errorf("rule %s: health %q %s", rule.Name, rule.Health, rule.LastError)
			}
			if rule.State == "firing" {
				t.Errorf("alert %s fires on a healthy network", rule.Name)
			}
		}
	}
	if n == 0 {
		t.Error("prometheus loaded no rules")
	}
}

// compose runs docker-compose (v1) or docker compose (v2) on the repo's file.
type compose struct {
	t       *testing.T
	argv    []string
	env     []string
	project string
}

func findCompose() []string {
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	if err := exec.Command("docker", "compose", "version").Run(); err == nil {
		return []string{"docker", "compose"}
	}
	return nil
}

func dockerWorks() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
}

func (c *compose) cmd(args ...string) (string, error) {
	argv := append(slices.Clone(c.argv), "-p", c.project, "-f", filepath.Join(repo, "docker-compose.yml"))
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

func (c *compose) must(args ...string) string {
	c.t.Helper()
	out, err := c.cmd(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// apiPorts are the published API ports of the compose file's nodes.
var apiPorts = map[string]string{"bootstrap": "7071", "node1": "7072", "node2": "7073", "node3": "7074", "crawler": "7075"}

// TestComposeConfig validates the compose file, Prometheus and Grafana
// services included, with the installed docker-compose.
func TestComposeConfig(t *testing.T) {
	argv := findCompose()
	testenv.Need(t, argv != nil, "docker-compose", dockerInstall)
	c := &compose{t: t, argv: argv, project: "murmurconfig"}
	out := c.must("config")
	for _, want := range []string{"prom/prometheus:", "grafana/grafana:", "/etc/grafana/provisioning", "127.0.0.1:3000:3000", "bootstrap.addrs"} {
		if !strings.Contains(out, want) {
			t.Errorf("docker-compose config lacks %q", want)
		}
	}
	services := strings.Fields(c.must("config", "--services"))
	for _, s := range []string{"bootstrap", "node1", "node2", "node3", "crawler", "prometheus", "grafana"} {
		if !slices.Contains(services, s) {
			t.Errorf("compose services %v lack %s", services, s)
		}
	}
}

// TestComposeNamesScrapeTargets: every node answers to the name Prometheus
// scrapes it by. The Host rule refuses names a node was not given with
// --api-host, so the compose file must give each service its own; the check
// runs the real guard with each service's flags.
func TestComposeNamesScrapeTargets(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	raw, err := os.ReadFile(filepath.Join(repo, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	raw, err = os.ReadFile(filepath.Join(repo, "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	targets := 0
	for _, job := range prom.ScrapeConfigs {
		if job.JobName != "murmur" {
			continue
		}
		for _, sc := range job.StaticConfigs {
			for _, target := range sc.Targets {
				targets++
				service, _, _ := strings.Cut(target, ":")
				svc, ok := compose.Services[service]
				if !ok {
					t.Errorf("Prometheus scrapes %s, but compose has no service %s", target, service)
					continue
				}
				var hosts []string
				for _, arg := range svc.Command {
					if h, ok := strings.CutPrefix(arg, "--api-host="); ok {
						hosts = append(hosts, h)
					}
				}
				g, err := server.Guard(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), server.GuardConfig{Token: strings.Repeat("t", 64), Hosts: hosts})
				if err != nil {
					t.Fatalf("service %s: %v", service, err)
				}
				req := httptest.NewRequest("GET", "http://"+target+"/metrics", nil)
				rec := httptest.NewRecorder()
				g.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("service %s (--api-host %v) answers a scrape of %s with %d: %s", service, hosts, target, rec.Code, rec.Body)
				}
			}
		}
	}
	if targets == 0 {
		t.Fatal("prometheus.yml has no murmur targets")
	}
}

// TestDockerCompose builds the node image from a static binary (deploy/image.sh,
// FROM scratch), brings up the compose file's murmur services, posts on one
// node and finds the post from another through the published API ports,
// stops a container and still finds it, then tears everything down.
func TestDockerCompose(t *testing.T) {
	argv := findCompose()
	testenv.Need(t, argv != nil && dockerWorks(), "Docker engine and docker-compose", dockerInstall)
	for node, port := range apiPorts {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatalf("port %s (the published API of %s) is taken: %v", port, node, err)
		}
		l.Close()
	}
	image := fmt.Sprintf("murmur/node:test-%d", os.Getpid())
	run(t, nil, "env", "MURMUR_IMAGE="+image, "bash", "deploy/image.sh")
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })

	c := &compose{t: t, argv: argv, env: []string{"MURMUR_IMAGE=" + image, "MURMUR_ID_DIFFICULTY=6", "MURMUR_POST_DIFFICULTY=6"}, project: fmt.Sprintf("murmurtest%d", os.Getpid())}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := c.cmd("logs", "--no-color", "--tail=100"); err == nil {
				t.Logf("compose logs:\n%s", out)
			}
		}
		if _, err := c.cmd("down", "-v", "--remove-orphans", "--timeout", "20"); err != nil {
			t.Errorf("tear down: %v", err)
		}
	})
	c.must("up", "-d", "--no-build", "bootstrap", "node1", "node2", "node3", "crawler")

	for node, port := range apiPorts {
		waitFor(t, node+" ready on its published port", 90*time.Second, func() error {
			return httpOK("http://127.0.0.1:" + port + "/readyz")
		})
	}
	// The image's healthcheck (murmur status, run inside the container)
	// must report every node healthy.
	waitFor(t, "every container healthy", 90*time.Second, func() error {
		for node := range apiPorts {
			id := strings.TrimSpace(c.must("ps", "-q", node))
			out, err := exec.Command("docker", "inspect", "--format", "{{.State.Health.Status}}", id).CombinedOutput()
			if err != nil {
				return fmt.Errorf("docker inspect %s: %v %s", node, err, out)
			}
			if s := strings.TrimSpace(string(out)); s != "healthy" {
				return fmt.Errorf("%s is %s", node, s)
			}
		}
		return nil
	})

	ctx := context.Background()
	client := func(node string) *api.Client { return api.NewClient("127.0.0.1:" + apiPorts[node]) }
	text := fmt.Sprintf("compose test %d #dockerised", os.Getpid())
	// Through a published port a request comes from outside the container's
	// loopback: a change needs the token, which the CLI in the image prints.
	if _, err := client("node1").Post(ctx, api.PostRequest{Text: text, Lang: "en"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("post on node1 without the API token: %v, want a 401", err)
	}
	writer := client("node1")
	writer.Token = strings.TrimSpace(c.must("exec", "-T", "node1", "/murmur", "token"))
	p, err := writer.Post(ctx, api.PostRequest{Text: text, Lang: "en"})
	if err != nil {
		t.Fatalf("post on node1 with the token from 'docker compose exec node1 /murmur token': %v", err)
	}
	q := url.Values{"q": {"#dockerised compose"}}
	find := func(node string) func() error {
		return func() error {
			r, err := client(node).Search(ctx, q)
			if err != nil {
				return err
			}
			for _, h := range r.Hits {
				if h.ID == p.ID {
					return nil
				}
			}
			return fmt.Errorf("%s: %d hits, not post %s", node, len(r.Hits), p.ID)
		}
	}
	waitFor(t, "node1 finds its own post", 30*time.Second, find("node1"))

	// Through the network: another node finds it, and still does with the
	// author's container stopped.
	waitFor(t, "node3 finds the post of node1", 60*time.Second, find("node3"))
	c.must("stop", "--timeout", "20", "node1")
	waitFor(t, "node2 finds the post with node1 stopped", 60*time.Second, find("node2"))
	// A stopped container's data survives in its volume.
	c.must("start", "node1")
	waitFor(t, "node1 ready again", 60*time.Second, func() error {
		return httpOK("http://127.0.0.1:" + apiPorts["node1"] + "/readyz")
	})
	waitFor(t, "node1 finds its post after a restart", 30*time.Second, find("node1"))
}

// TestMetricsEndpointNames checks the names a real node exports: the
// prefixes are bounded to murmur's, Go's and the process's (and, once the
// network lands, libp2p's and kad-dht's), so a stray collector shows up here.
func TestMetricsEndpointNames(t *testing.T) {
	nodes := startNodes(t, 1)
	body := fetch(t, "http://"+nodes[0]+"/metrics")
	allowed := regexp.MustCompile(`^(murmur_|go_|process_|promhttp_|libp2p_|rpc_|network_size|target_info|otel_scope_info)`)
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	names := map[string]bool{}
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		name := strings.Fields(line)[2]
		names[name] = true
		if !allowed.MatchString(name) {
			t.Errorf("unexpected metric family %s", name)
		}
	}
	for _, want := range []string{"murmur_posts_accepted_total", "murmur_index_documents", "murmur_peers_connected", "murmur_query_phase_duration_seconds", "go_goroutines", "process_open_fds"} {
		if !names[want] {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// upstreamLint lists the metric-name prefixes of libraries whose own names
// break Prometheus conventions (go-libp2p's eventbus and identify counters,
// kad-dht's millisecond latencies through OpenTelemetry). promtool's
// findings on them are the libraries' to fix; murmur's own, Go's and the
// process collector's names must pass.
var upstreamLint = []string{"libp2p_", "rpc_inbound_", "rpc_outbound_"}

// checkMetricsLint runs promtool check metrics on a node's real exposition
// and fails on any finding about a name that is not upstream's.
func checkMetricsLint(t *testing.T, body string) {
	t.Helper()
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	var ours []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		upstream := false
		for _, p := range upstreamLint {
			if strings.HasPrefix(name, p) {
				upstream = true
			}
		}
		if !upstream && line != "" {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 {
		t.Errorf("promtool check metrics (%v) finds murmur's names wrong:\n%s", err, strings.Join(ours, "\n"))
	}
	if !strings.Contains(body, "murmur_peers_connected") {
		t.Error("the exposition lacks murmur's network metrics")
	}
}
