package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-p2p/murmur/internal/gate"
	"github.com/murmur-p2p/murmur/query"
)

// Bounds of the searches a node runs for its API and web page at once.
const (
	// MaxSearches bounds the searches running at once, local and network.
	MaxSearches = 32
	// MaxSearchesPerCaller bounds those of one caller (one client address).
	MaxSearchesPerCaller = 8
	// searchQueueWait is how long a search waits for a place before it is
	// refused as busy.
	searchQueueWait = 2 * time.Second
)

// enterSearch waits for a place for a search of ctx's caller.
func (n *Node) enterSearch(ctx context.Context) (release func(), err error) {
	release, err = n.admission.Enter(ctx, query.CallerOf(ctx), searchQueueWait)
	switch {
	case errors.Is(err, gate.ErrKeyFull):
		return nil, &query.BusyError{Msg: fmt.Sprintf("this node already runs %d searches for you; wait for one to finish", MaxSearchesPerCaller)}
	case errors.Is(err, gate.ErrFull):
		return nil, &query.BusyError{Msg: fmt.Sprintf("this node is busy with %d searches; try again in a moment", MaxSearches)}
	}
	return release, err
}
