package bolt

import (
	"fmt"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/grantd/grantd/datasource"
)

// populate writes n datasources, each with a token record, in one
// transaction through the store's codec: the bytes the store itself writes.
func populate(tb testing.TB, s *Store, n int) {
	tb.Helper()
	c := s.codec.Load()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ds, names, tokens := tx.Bucket(bucketDatasources), tx.Bucket(bucketNames), tx.Bucket(bucketTokens)
		for i := range n {
			d := sample(fmt.Sprintf("ds_%07d", i), fmt.Sprintf("datasource-%07d", i))
			rec, err := c.EncodeDatasource(d)
			if err != nil {
				return err
			}
			tok, err := c.EncodeToken(datasource.SharedKey(d.ID), sampleToken(uint64(i+1)))
			if err != nil {
				return err
			}
			if err := ds.Put([]byte(d.ID), rec); err != nil {
				return err
			}
			if err := names.Put(nameKey(d.Name), []byte(d.ID)); err != nil {
				return err
			}
			if err := tokens.Put([]byte(d.ID), tok); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkSchedules100k walks the planning view of 100,000 datasources
// with a token record each, as the refresher does when it starts.
func BenchmarkSchedules100k(b *testing.B) {
	s := mustOpen(b)
	populate(b, s, 100_000)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := s.Schedules(ctx, func(datasource.Key, datasource.Schedule) error { n++; return nil }); err != nil || n != 100_000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkDatasource reads one datasource (its client secret unsealed)
// out of 10,000.
func BenchmarkDatasource(b *testing.B) {
	s := mustOpen(b)
	populate(b, s, 10_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Datasource(ctx, "ds_0004242"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenSchedule reads the planning view of one datasource.
func BenchmarkTokenSchedule(b *testing.B) {
	s := mustOpen(b)
	populate(b, s, 10_000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.TokenSchedule(ctx, datasource.SharedKey("ds_0004242")); err != nil {
			b.Fatal(err)
		}
	}
}
