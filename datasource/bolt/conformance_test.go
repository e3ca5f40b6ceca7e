package bolt

import (
	"log/slog"
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, log *slog.Logger) datasource.Store {
		e := newEnv(t)
		s, err := Open(e.path(), e.ks, &Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
