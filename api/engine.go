package api

import (
	"context"
	"time"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/grants"
)

// Engine is what the API needs of the token engine; *grants.Engine is
// one. The API translates HTTP into these calls, one per route, and their
// answers and errors back into HTTP: use cases live in the engine.
type Engine interface {
	Datasources
	Tokens
	Connections
	Flows
	// Resolve returns the target of proxied calls as a datasource or an
	// end user's connection (see grants.Target.Send).
	Resolve(ctx context.Context, k datasource.Key) (grants.Target, error)
}

// Datasources is the datasource part of Engine.
type Datasources interface {
	Create(ctx context.Context, d *datasource.Datasource) (*datasource.Datasource, datasource.Authorization, error)
	Update(ctx context.Context, ch grants.Change) (*datasource.Datasource, datasource.Authorization, bool, error)
	Delete(ctx context.Context, id string) (*grants.RevokeResult, error)
	Datasource(ctx context.Context, id string) (*datasource.Datasource, error)
	DatasourceByNameOrID(ctx context.Context, nameOrID string) (*datasource.Datasource, error)
	List(ctx context.Context) ([]grants.Listed, error)
}

// Tokens is the token part of Engine: a shared datasource's tokens, or one
// connection's.
type Tokens interface {
	Status(ctx context.Context, k datasource.Key) (datasource.Authorization, error)
	View(ctx context.Context, k datasource.Key) (datasource.Authorization, *datasource.Health, error)
	Refresh(ctx context.Context, k datasource.Key) (datasource.Authorization, error)
	Revoke(ctx context.Context, k datasource.Key) (*grants.RevokeResult, error)
	Token(ctx context.Context, k datasource.Key) (grants.AccessToken, error)
	Check(ctx context.Context, k datasource.Key) (*datasource.Health, error)
}

// Connections is the per-user part of Engine.
type Connections interface {
	Connections(ctx context.Context, q datasource.ConnectionQuery) ([]grants.Connection, string, error)
	Connection(ctx context.Context, datasourceID, endUserID string) (*grants.Connection, error)
	DeleteConnection(ctx context.Context, datasourceID, endUserID string) (*grants.RevokeResult, error)
	CreateConnectSession(ctx context.Context, r grants.ConnectRequest) (*grants.ConnectSession, error)
	OpenConnectSession(ctx context.Context, token, binding string) (string, error)
	OpenConnectForm(ctx context.Context, token, binding string) (*grants.ConnectForm, error)
	SubmitConnectForm(ctx context.Context, token, binding string, cred datasource.Credential) (*grants.CallbackResult, error)
}

// Flows is the browser-authorization part of Engine.
type Flows interface {
	AuthorizeURL(ctx context.Context, id string, r grants.AuthorizeRequest) (string, error)
	NewStart(ctx context.Context, id, returnTo string) (string, time.Time, error)
	RedeemStart(ctx context.Context, id, token, binding string) (string, error)
	Callback(ctx context.Context, r grants.CallbackRequest) (*grants.CallbackResult, error)
}

var _ Engine = (*grants.Engine)(nil)
