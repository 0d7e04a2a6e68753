package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-p2p/murmur/metrics"
	"github.com/murmur-p2p/murmur/query"
	"github.com/murmur-p2p/murmur/query/netsearch"
)

// Search runs a query on the whole network (query/netsearch), or on the
// local index when req.Scope is query.ScopeLocal.
func (n *Node) Search(ctx context.Context, req query.Request) (*query.Result, error) {
	release, err := n.enterSearch(ctx)
	if err != nil {
		n.metrics.searchRequests.WithLabelValues(metrics.OutcomeBusy).Inc()
		return nil, err
	}
	defer release()
	start := time.Now()
	scope := req.Scope
	if scope == "" {
		scope = query.ScopeNetwork
	}
	var res *query.Result
	switch scope {
	case query.ScopeLocal:
		res, err = query.Run(ctx, n.index, req)
	case query.ScopeNetwork:
		res, err = n.searches.Search(ctx, req)
	default:
		err = &query.RequestError{Msg: fmt.Sprintf("scope %q is unknown; use network or local", scope)}
		scope = "invalid" // a bounded label value
	}
	outcome := "ok"
	var syn *query.SyntaxError
	var bad *query.RequestError
	switch {
	case errors.As(err, &syn) || errors.As(err, &bad):
		outcome = "bad_request"
	case err != nil:
		outcome = "error"
	}
	n.metrics.searchRequests.WithLabelValues(outcome).Inc()
	n.metrics.searchSeconds.WithLabelValues(scope).Observe(time.Since(start).Seconds())
	if res != nil {
		res.LabelSigners = query.LabelSignersOf(req.Q, res.Hits)
		res.Took = time.Since(start)
	}
	return res, err
}

// serveSearch answers a peer's search on the local index.
func (n *Node) serveSearch(ctx context.Context, r *netsearch.Request) (*netsearch.Response, error) {
	return netsearch.Answer(ctx, n.index, r)
}

// Searches is the node's coordinator of network searches (tests read the
// network's totals through it).
func (n *Node) Searches() *netsearch.Coordinator { return n.searches }
