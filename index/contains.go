package index

import (
	"context"
	"fmt"
)

// Contains reports, for each ID, whether the index holds that post (a
// deleted post it does not). Imports use it to skip what a first run
// stored.
func (ix *Index) Contains(ctx context.Context, ids ...string) (_ []bool, err error) {
	defer ix.recoverRead("contains", &err)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := ix.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]bool, len(ids))
	for i, id := range ids {
		iid, err := r.InternalID(id)
		if err != nil {
			return nil, fmt.Errorf("look up post %s: %w", id, err)
		}
		out[i] = iid != nil
	}
	return out, nil
}
