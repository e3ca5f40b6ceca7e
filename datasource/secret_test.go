package datasource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const plain = "s3cr3t-value"
	s := NewSecret(plain)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "struct", struct{ S Secret }{s})
	j, _ := json.Marshal(struct{ S Secret }{s})
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%+v", struct{ S Secret }{s}), fmt.Sprintf("%#v", OAuth2{ClientSecret: s}),
		string(j), logs.String(),
	}
	for _, o := range outs {
		if strings.Contains(o, plain) {
			t.Errorf("secret leaked in %q", o)
		}
	}
	if s.Reveal() != plain {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	var back Secret
	if err := json.Unmarshal([]byte(`"abc"`), &back); err != nil || back.Reveal() != "abc" {
		t.Errorf("UnmarshalJSON: %v %q", err, back.Reveal())
	}
	if err := json.Unmarshal([]byte(`12`), &back); err == nil {
		t.Error("UnmarshalJSON accepted a number")
	}
	if !s.Equal(NewSecret(plain)) || s.Equal(NewSecret("other")) {
		t.Error("Equal is wrong")
	}
}
