package sealed

import (
	"testing"
	"time"

	"github.com/grantd/grantd/datasource"
)

// BenchmarkDecodeSchedule is the per-record cost of Schedules: the tag
// checked (one AES-GCM over the record, as associated data), nothing
// unsealed.
func BenchmarkDecodeSchedule(b *testing.B) {
	c := codec(&testing.T{})
	r := &datasource.TokenRecord{Generation: 3, AccessToken: datasource.NewSecret("at-9a7c2b14-ACCESS-TOKEN"), RefreshToken: datasource.NewSecret("rt-0e4b6d31-REFRESH-TOKEN"),
		Status: datasource.StatusAuthorized, Expiry: time.Unix(1_800_000_000, 0).UTC(), TokenType: "Bearer", GrantedScope: "read", LastRefreshedAt: time.Unix(1_799_990_000, 0).UTC()}
	rec, _ := c.EncodeToken(datasource.SharedKey("ds_0004242"), r)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := c.DecodeSchedule(datasource.SharedKey("ds_0004242"), rec); err != nil {
			b.Fatal(err)
		}
	}
}
