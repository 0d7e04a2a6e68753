package web

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/murmur-p2p/murmur/metrics"
)

// Bounds of the node page's charts.
const (
	// MaxSamples is how many samples the ring keeps.
	MaxSamples = 120
	// SampleEvery is the least time between two samples. Samples are taken
	// when the node page is viewed (its script asks every few seconds), so
	// the charts cover the time someone watched, with no goroutine of their
	// own; the counters are cumulative, so every rate is an exact average
	// between two samples however far apart they are.
	SampleEvery = 5 * time.Second
)

// Names of the metrics the charts read.
const (
	metricAccepted = metrics.PostsAccepted
	metricSearches = metrics.SearchRequests
	metricDocs     = metrics.IndexDocuments
)

// sample is one reading of the node's counters.
type sample struct {
	at       time.Time
	accepted float64 // posts stored, cumulative
	searches float64 // searches served, cumulative
	docs     float64 // posts held
}

// sampler keeps the last MaxSamples readings of the node's metrics.
type sampler struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu   sync.Mutex
	ring [MaxSamples]sample
	head int // next slot to write
	n    int
}

func newSampler(g prometheus.Gatherer, now func() time.Time) *sampler {
	return &sampler{g: g, now: now}
}

func (s *sampler) gather() []*dto.MetricFamily {
	if s.g == nil {
		return nil
	}
	mfs, err := s.g.Gather()
	if err != nil && len(mfs) == 0 {
		return nil
	}
	return mfs
}

// sum adds up every series of a counter or gauge.
func sum(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v
}

// sample records a reading unless the last one is younger than SampleEvery.
func (s *sampler) sample() {
	if s.g == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	if s.n > 0 && now.Sub(s.ring[(s.head+MaxSamples-1)%MaxSamples].at) < SampleEvery {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	x := sample{at: now}
	for _, mf := range s.gather() {
		switch mf.GetName() {
		case metricAccepted:
			x.accepted = sum(mf)
		case metricSearches:
			x.searches = sum(mf)
		case metricDocs:
			x.docs = sum(mf)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 && now.Sub(s.ring[(s.head+MaxSamples-1)%MaxSamples].at) < SampleEvery {
		return // another request sampled meanwhile
	}
	s.ring[s.head] = x
	s.head = (s.head + 1) % MaxSamples
	s.n = min(s.n+1, MaxSamples)
}

// samples returns the ring, oldest first.
func (s *sampler) samples() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]sample, 0, s.n)
	for i := range s.n {
		out = append(out, s.ring[(s.head-s.n+i+MaxSamples)%MaxSamples])
	}
	return out
}

// activityView is the node page's charts and the figures they show.
type activityView struct {
	Charts []chart
	Span   string // how much time the samples cover
}

// chart is one small inline SVG chart with its figures in words.
type chart struct {
	ID, Title, Unit string
	Now, Peak       string
	SVG             template.HTML
	Empty           bool
}

type point struct {
	at time.Time
	v  float64
}

func (s *sampler) activity() activityView {
	ss := s.samples()
	var ingest, queries, held []point
	for i, x := range ss {
		held = append(held, point{x.at, x.docs})
		if i == 0 {
			continue
		}
		dt := x.at.Sub(ss[i-1].at).Seconds()
		if dt <= 0 {
			continue
		}
		// A counter that went down was reset (a restart); count from zero.
		ingest = append(ingest, point{x.at, math.Max(0, x.accepted-ss[i-1].accepted) / dt})
		queries = append(queries, point{x.at, math.Max(0, x.searches-ss[i-1].searches) / dt})
	}
	v := activityView{Charts: []chart{
		newChart("ingest", "Ingest rate", "posts/s", ingest, true),
		newChart("queries", "Query rate", "searches/s", queries, true),
		newChart("held", "Posts held", "posts", held, false),
	}}
	if len(ss) > 1 {
		v.Span = formatDuration(int64(ss[len(ss)-1].at.Sub(ss[0].at).Seconds()))
	}
	return v
}

// Chart geometry, in SVG user units; CSS scales it to the column.
const (
	chartW, chartH = 300, 60
	chartPad       = 2
)

// newChart draws pts. A rate's single point is already an average between
// two samples, worth its figure; a single reading of a gauge may be the
// baseline taken at start, so it shows nothing until a second one.
func newChart(id, title, unit string, pts []point, rate bool) chart {
	c := chart{ID: id, Title: title, Unit: unit}
	if len(pts) < 2 {
		c.Empty = true
		if len(pts) == 1 && rate {
			c.Now, c.Peak = figure(pts[0].v), figure(pts[0].v)
		}
		return c
	}
	t0, t1 := pts[0].at, pts[len(pts)-1].at
	peak := 0.0
	for _, p := range pts {
		peak = math.Max(peak, p.v)
	}
	c.Now, c.Peak = figure(pts[len(pts)-1].v), figure(peak)
	top := peak
	if top == 0 {
		top = 1
	}
	span := t1.Sub(t0).Seconds()
	var line strings.Builder
	for i, p := range pts {
		x := chartPad + (chartW-2*chartPad)*p.at.Sub(t0).Seconds()/span
		y := chartH - chartPad - (chartH-2*chartPad)*p.v/top
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", x, y)
	}
	first := fmt.Sprintf("%.1f,%d", float64(chartPad), chartH-chartPad)
	last := fmt.Sprintf("%.1f,%d", float64(chartW-chartPad), chartH-chartPad)
	label := fmt.Sprintf("%s over the last %s: now %s %s, peak %s", title, formatDuration(int64(span)), c.Now, unit, c.Peak)
	// Every value written into the SVG is a number or escaped.
	c.SVG = template.HTML(fmt.Sprintf( //nolint:gosec
		`<svg class="chart" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img" aria-label="%s">`+
			`<title>%s</title>`+
			`<polygon class="area" points="%s %s %s"/>`+
			`<polyline class="line" points="%s"/>`+
			`</svg>`,
		chartW, chartH, template.HTMLEscapeString(label), template.HTMLEscapeString(label),
		first, line.String(), last, line.String()))
	return c
}

// figure prints a value with as many digits as people need.
func figure(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// metricRow is one of murmur's metrics in words.
type metricRow struct {
	Name, Help, Value string
}

// maxSeriesShown bounds the series one row of the metrics table lists.
const maxSeriesShown = 12

// table lists murmur's own metrics (not the Go runtime's), with their help
// text and values: the same facts /metrics exports.
func (s *sampler) table() []metricRow {
	var out []metricRow
	for _, mf := range s.gather() {
		if !strings.HasPrefix(mf.GetName(), "murmur_") {
			continue
		}
		var vals []string
		for i, m := range mf.GetMetric() {
			if i == maxSeriesShown {
				vals = append(vals, fmt.Sprintf("… %d more", len(mf.GetMetric())-i))
				break
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			var val string
			switch {
			case m.Histogram != nil:
				h := m.Histogram
				val = fmt.Sprintf("%d observed", h.GetSampleCount())
				if h.GetSampleCount() > 0 {
					val += ", mean " + figure(h.GetSampleSum()/float64(h.GetSampleCount()))
				}
			case m.Summary != nil:
				val = fmt.Sprintf("%d observed", m.Summary.GetSampleCount())
			case strings.HasSuffix(mf.GetName(), "_timestamp_seconds"):
				// A moment, shown as one rather than as seconds since 1970.
				val = "never"
				if at := sum(&dto.MetricFamily{Metric: []*dto.Metric{m}}); at > 0 {
					val = formatTime(time.Unix(int64(at), 0))
				}
			default:
				val = figure(sum(&dto.MetricFamily{Metric: []*dto.Metric{m}}))
			}
			if len(labels) > 0 {
				val = strings.Join(labels, ", ") + ": " + val
			}
			vals = append(vals, val)
		}
		if len(vals) == 0 {
			vals = []string{"none yet"}
		}
		out = append(out, metricRow{Name: mf.GetName(), Help: mf.GetHelp(), Value: strings.Join(vals, "; ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
