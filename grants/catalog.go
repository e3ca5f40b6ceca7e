package grants

import (
	"context"

	"github.com/grantd/grantd/datasource"
)

// ListDatasources returns every datasource, ordered by name, without
// reading any token record: List for callers that need no status (MCP's
// tool descriptions). Errors: a store failure.
func (e *Engine) ListDatasources(ctx context.Context) ([]*datasource.Datasource, error) {
	return e.store.ListDatasources(ctx)
}
