package bolt

import (
	"testing"

	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) datasource.Store { return mustOpen(t) })
}
