package api_test

import (
	"strings"
	"testing"
)

// TestAPIKeyNotLeaked: the answer that shows a key once is not cached,
// and a key pasted into the path where its id belongs (DELETE
// /api/v1/api-keys/gk_…) stays out of the access log.
func TestAPIKeyNotLeaked(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	code, b, hdr := h.do("POST", "/api/v1/api-keys", map[string]any{"name": "app", "permissions": []string{"read"}})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	k := decode[keyAnswer](t, b)
	h.addLogSecret(k.Key)
	if got := hdr.Get("Cache-Control"); got != "no-store" {
		t.Errorf("the answer with the key has Cache-Control %q, want no-store", got)
	}

	if code, b, _ := h.do("DELETE", "/api/v1/api-keys/"+k.Key, nil); code != 404 || strings.Contains(string(b), k.Key) {
		t.Fatalf("revoking by the key instead of its id: %d %s", code, b)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "/api/v1/api-keys/[key]") {
		t.Errorf("the access log does not show the redacted path:\n%s", logs)
	}
	// checkNoSecrets (at cleanup) fails the test if the key is in the log.
}
