package provider

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/catalogue.json from the catalogue")

// TestGolden keeps testdata/catalogue.json equal to the catalogue as JSON,
// so a change to an entry shows in review as a diff of what the API will
// serve. Run go test ./provider/ -update after changing an entry.
func TestGolden(t *testing.T) {
	got, err := json.MarshalIndent(All(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "catalogue.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./provider/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./provider/ -update and review the diff", path)
	}
}
