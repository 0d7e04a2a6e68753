//lint:file-ignore SA1019 dashboard.Dashboard and its builder are deprecated in favour of dashboardv2, the schema of Grafana 12's new layouts. The compose stack runs Grafana 11.3, which reads and provisions only the classic dashboard JSON built here.

package main

import (
	"bytes"
	"encoding/json"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

const (
	// UID and Title identify the dashboard in Grafana: links to it
	// (/d/murmur) and the compose stack's provisioning rely on them.
	UID   = "murmur"
	Title = "murmur"

	// OutputPath is where the dashboard is committed, from the repository
	// root; the compose stack mounts its directory into Grafana.
	OutputPath = "deploy/grafana/dashboards/murmur.json"

	// schemaVersion is the dashboard schema the JSON declares: the one it
	// shipped with, which the compose stack's Grafana 11.3 reads as is. The
	// SDK writes its own latest schema (42) by default; the panels used
	// here have the same shape in both.
	schemaVersion = 39
)

// datasource is the data source of every panel and query: the dashboard's
// $datasource variable, a Prometheus data source.
var datasource = common.DataSourceRef{
	Type: cog.ToPtr("prometheus"),
	Uid:  cog.ToPtr("${datasource}"),
}

// Build returns murmur's dashboard: an overview, then rows for the network,
// its defences against hostile peers, ingest, search, the index, crawl and the process, every query templated by
// the $instance variable (the nodes to show).
func Build() (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(Title).
		Uid(UID).
		Tags([]string{"murmur"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Timezone(common.TimeZoneBrowser).
		Time("now-1h", "now").
		Refresh("30s").
		Version(1).
		WithVariable(datasourceVariable()).
		WithVariable(instanceVariable())
	overviewRow(b)
	networkRow(b)
	defencesRow(b)
	ingestRow(b)
	searchRow(b)
	indexRow(b)
	crawlRow(b)
	processRow(b)
	d, err := b.Build()
	if err != nil {
		return dashboard.Dashboard{}, err
	}
	d.SchemaVersion = schemaVersion
	return d, nil
}

// JSON returns the dashboard as the committed file holds it: indented by two
// spaces, without HTML escaping (queries keep their < and >), ending in a
// newline.
func JSON() ([]byte, error) {
	d, err := Build()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// datasourceVariable is $datasource: which Prometheus data source to read,
// by default the compose stack's (uid prometheus).
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: cog.ToPtr("Prometheus")},
			Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("prometheus")},
		}).
		Hide(dashboard.VariableHideDontHide)
}

// instanceVariable is $instance: the nodes to show, all by default, from the
// instances of Prometheus's murmur job.
func instanceVariable() *dashboard.QueryVariableBuilder {
	const query = `label_values(up{job="murmur"}, instance)`
	return dashboard.NewQueryVariableBuilder("instance").
		Label("Node").
		Datasource(datasource).
		Definition(query).
		Query(dashboard.StringOrMap{Map: map[string]any{
			"query": query,
			"refId": "instance",
		}}).
		IncludeAll(true).
		Multi(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Hide(dashboard.VariableHideDontHide)
}

// row starts a row; the panels added after it, up to the next row, are its
// panels. Panel IDs are fixed, not counted, so links to a panel
// (?viewPanel=ID) survive panels added before it.
func row(id uint32, title string) *dashboard.RowBuilder {
	return dashboard.NewRowBuilder(title).Id(id)
}

// statPanel is a quarter-width stat of the last value of its queries.
func statPanel(id uint32) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Id(id).
		Datasource(datasource).
		Height(5).
		Span(6).
		ReduceOptions(common.NewReduceDataOptionsBuilder().
			Calcs([]string{"lastNotNull"}).
			Fields("").
			Values(false)).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea).
		TextMode(common.BigValueTextModeAuto).
		Orientation(common.VizOrientationAuto)
}

// timeseriesPanel is a graph span columns wide (of 24), with a legend under
// it and a tooltip listing every series, largest first.
func timeseriesPanel(id, span uint32) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Id(id).
		Datasource(datasource).
		Height(7).
		Span(span).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// query is one PromQL query of a panel, on the panel's data source.
func query(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		RefId(refID).
		Expr(expr).
		LegendFormat(legend).
		Datasource(datasource)
}
