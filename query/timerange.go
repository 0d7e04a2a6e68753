package query

import "time"

// TimeRange is the range of created_at that every match of e lies in,
// [since, until), from the since: and until: filters that e requires (at
// its top, or in an AND at its top); a zero bound is open. A planner asks
// only the time buckets of a split key that overlap it.
func TimeRange(e Expr) (since, until time.Time) {
	children := []Expr{e}
	if a, ok := e.(*And); ok {
		children = a.Children
	}
	for _, c := range children {
		d, ok := c.(*DateRange)
		if !ok {
			continue
		}
		if !d.Since.IsZero() && d.Since.After(since) {
			since = d.Since
		}
		if !d.Until.IsZero() && (until.IsZero() || d.Until.Before(until)) {
			until = d.Until
		}
	}
	return since, until
}
