package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/grantd/grantd/grants"
)

// JSON logs say what text logs say: kinds by name, durations as "1.5s".
func TestJSONLogsWriteKindsAndDurationsAsText(t *testing.T) {
	var buf bytes.Buffer
	c := &config{LogFormat: "json", LogLevel: "info"}
	c.logger(&buf).Info("x", "kind", grants.Transient, "took", 1500*time.Millisecond)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["kind"] != "transient" || m["took"] != "1.5s" {
		t.Errorf("kind %v, took %v; want \"transient\", \"1.5s\"", m["kind"], m["took"])
	}
}
