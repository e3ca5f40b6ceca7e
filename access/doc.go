// Package access is who may call grantd: the admin token that
// bootstraps everything, the key that signs the UI's session cookies, API
// keys for programs (Keys) and agent sessions for MCP clients
// (AgentSessions). Packages api and mcp check the credentials on each
// request; this package makes them and keeps them in the store.
//
// # Agent sessions
//
// An agent session is a bearer credential for an MCP client, bound to one
// end user and a set of datasources, for at most 24 hours
// (datasource.MaxAgentSessionTTL). Its token is "ga_<16 hex>_<secret>";
// only its SHA-256 is stored, like an API key's. A revocation holds on
// every replica: the store's watch reports it (etcd), and a checked
// session is trusted without a store read for CacheFor at most.
//
// # Admin token
//
// The admin token is a bearer credential (RFC 6750) with every
// permission. Only its SHA-256 is stored, under the metadata key
// "admin-token-sha256": grantd cannot show the token again, only replace
// it (ResetAdminToken). An operator may configure one instead, at least
// MinAdminTokenLength characters long; it wins over the stored hash and
// nothing is stored for it. Without one, EnsureAdminToken generates
// "gd_" followed by 32 random bytes in unpadded base64url (46 characters)
// and returns it once, for the caller to show.
//
// # Session key
//
// The session key is 32 random bytes that sign UI session cookies. It is
// stored sealed (the Sealer's AEAD, with associated data naming it) under
// the metadata key "session-key", so that every replica of a shared store
// signs and accepts the same cookies, and so that rotating the keyset
// re-seals it (ResealSessionKey).
//
// # Replicas
//
// Replicas that start together on an empty shared store race to make the
// admin token and the session key. A store that several processes share
// implements datasource.MetaCreator; this package then creates each value
// only if it is absent, and the losers read the winner's, so every
// replica agrees on one value. A store without it (bbolt, which one
// process owns) is written with SetMeta.
//
// The functions are safe for concurrent use when the store is.
package access
