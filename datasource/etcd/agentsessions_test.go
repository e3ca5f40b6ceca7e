package etcd_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/grantd/grantd/crypto"
	"github.com/grantd/grantd/datasource"
	"github.com/grantd/grantd/datasource/etcd/etcdtest"
)

// TestWatchAgentSessionsReportsRevocations: a session another replica
// deletes is reported by id, so this replica forgets it at once.
func TestWatchAgentSessionsReportsRevocations(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ks, _ := crypto.NewKeyset()
	mine := open(t, dial(t, c, "/as/"), ks, nil)
	other := open(t, dial(t, c, "/as/"), ks, nil)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 50
	for i := range n {
		s := &datasource.AgentSession{ID: fmt.Sprintf("as_%02d", i), EndUserID: "u", Datasources: []string{"ds_1"},
			Hash: sha256.Sum256([]byte{byte(i)}), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := other.CreateAgentSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string, n+1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go mine.WatchAgentSessions(wctx, func(id string) { got <- id })
	// Keep deleting until the watch has seen one: it may start after the
	// first deletes.
	deleted := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("as_%02d", i)
		if err := other.DeleteAgentSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		deleted[id] = true
		select {
		case rep := <-got:
			if rep == "" {
				continue // a resumed watch; not what this test waits for
			}
			if !deleted[rep] {
				t.Fatalf("watch reported %q, which nobody deleted", rep)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("the watch reported no deleted agent session")
}
