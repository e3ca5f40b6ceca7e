package outbound

import "sync"

// Cache keeps one value per key, made by New on first use: one HTTP client
// per CA bundle, so that calls to the same endpoints reuse connections.
// Keys are few (one per distinct CA bundle), so nothing is ever evicted.
// It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	// New makes the value of a key not seen yet. An error is returned to
	// the caller and nothing is cached.
	New func(K) (V, error)

	mu sync.Mutex // guards m
	m  map[K]V
}

// Get returns the value of key, making it first if needed.
func (c *Cache[K, V]) Get(key K) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[key]; ok {
		return v, nil
	}
	v, err := c.New(key)
	if err != nil {
		return v, err
	}
	if c.m == nil {
		c.m = map[K]V{}
	}
	c.m[key] = v
	return v, nil
}
