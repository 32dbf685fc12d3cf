package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/httpapi"
)

// TestBackupOfAClusterUnderWritesRestoresIntoANewCluster: a backup taken
// from one node of three while all three take writes, restored into one
// node of a new three-node cluster, gives every node of the new cluster
// every key acknowledged (on any node) before the backup began, none
// deleted before it began, and the new cluster's nodes have new IDs and
// mint under an origin the backup does not hold.
func TestBackupOfAClusterUnderWritesRestoresIntoANewCluster(t *testing.T) {
	old := serveCluster(t, "a", "b", "c")
	a, b := old[0], old[1]
	const keys, deleted = 300, 30
	for i := range keys {
		if _, err := old[i%3].Put(ctx(t), fmt.Sprintf("pre/%03d", i), fmt.Append(nil, "v", i), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range deleted {
		if err := old[i%3].Delete(ctx(t), fmt.Sprintf("pre/%03d", i)); err != nil {
			t.Fatal(err)
		}
	}

	var stop atomic.Bool
	var wrote atomic.Int64
	var wg sync.WaitGroup
	for w, n := range old {
		wg.Go(func() {
			for i := 0; i < 5000 && !stop.Load(); i++ {
				if _, err := n.Put(ctx(t), fmt.Sprintf("during/%d/%d", w, i), []byte("x"), ""); err != nil {
					t.Error(err)
					return
				}
				wrote.Add(1)
			}
		})
	}
	testwait.For(t, "writes under way", 10*time.Second, time.Millisecond, func() bool { return wrote.Load() > 50 })
	var backup bytes.Buffer
	info, err := b.Backup(ctx(t), &backup)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(backup.Len()) || info.Keys < keys-deleted || len(info.SHA256) != 64 {
		t.Fatalf("backup info %+v for %d bytes", info, backup.Len())
	}
	if _, err := client.CheckBackup(bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}

	restored := serveCluster(t, "a2", "b2", "c2")
	a2, b2, c2 := restored[0], restored[1], restored[2]
	res, err := b2.Restore(ctx(t), bytes.NewReader(backup.Bytes()), int64(backup.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != info.Keys || res.SHA256 != info.SHA256 {
		t.Fatalf("restored %+v from backup %+v", res, info)
	}
	if _, held := res.VersionVector[res.Origin]; held || len(res.VersionVector) != 3 {
		t.Fatalf("restored node mints as %s; the backup holds %v", res.Origin, res.VersionVector)
	}
	if oldIDs := memberIDs(t, b); !oldIDs[res.From] || oldIDs[res.Node] {
		t.Fatalf("restore from node %s into node %s; the old cluster's IDs are %v", res.From, res.Node, oldIDs)
	}
	testwait.For(t, "the restored cluster converges", 60*time.Second, 50*time.Millisecond, func() bool {
		return sameDigests(t, restored) && len(listAll(t, a2, "pre/")) == keys-deleted
	})
	for i, n := range restored {
		for k := range keys {
			key := fmt.Sprintf("pre/%03d", k)
			v, err := n.Get(ctx(t), key)
			switch {
			case k < deleted && !errors.Is(err, client.ErrNotFound):
				t.Fatalf("node %d: %s deleted before the backup is back: %q, %v", i, key, v.Data, err)
			case k >= deleted && (err != nil || string(v.Data) != fmt.Sprint("v", k)):
				t.Fatalf("node %d: %s = %q, %v; want v%d", i, key, v.Data, err, k)
			}
		}
	}
	oldIDs := memberIDs(t, a)
	for id := range memberIDs(t, a2) {
		if oldIDs[id] {
			t.Fatalf("restored cluster member has the old cluster's ID %s", id)
		}
	}
	// A node with data refuses another restore; the new cluster takes
	// writes as any does.
	_, err = a2.Restore(ctx(t), bytes.NewReader(backup.Bytes()), int64(backup.Len()))
	wantAPIError(t, err, http.StatusConflict, "empty node")
	if _, err := a2.Put(ctx(t), "pre/100", []byte("new"), ""); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "a write after the restore replicates", 10*time.Second, 20*time.Millisecond, func() bool {
		v, err := c2.Get(ctx(t), "pre/100")
		return err == nil && string(v.Data) == "new"
	})
}

// TestBackupDetectsDamage: Backup fails on a backup that does not arrive
// whole; CheckBackup on a damaged file.
func TestBackupDetectsDamage(t *testing.T) {
	c := serve(t, httpapi.Options{})
	if _, err := c.Put(ctx(t), "k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := c.Backup(ctx(t), &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for _, bad := range [][]byte{good[:len(good)-1], append(bytes.Clone(good[:10]), good[11:]...), nil} {
		if _, err := client.CheckBackup(bytes.NewReader(bad)); !errors.Is(err, client.ErrBadBackup) {
			t.Fatalf("CheckBackup of %d damaged bytes = %v, want ErrBadBackup", len(bad), err)
		}
	}
}

func sameDigests(t *testing.T, nodes []*client.Client) bool {
	var first string
	for i, n := range nodes {
		d, err := n.Digest(ctx(t))
		if err != nil || i > 0 && d.Digest != first {
			return false
		}
		first = d.Digest
	}
	return true
}

func listAll(t *testing.T, c *client.Client, prefix string) []string {
	var keys []string
	for after := ""; ; {
		page, err := c.List(ctx(t), prefix, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Keys {
			keys = append(keys, e.Key)
		}
		if page.Next == "" {
			return keys
		}
		after = page.Next
	}
}

func memberIDs(t *testing.T, c *client.Client) map[string]bool {
	ms, err := c.Members(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range ms {
		ids[m.NodeID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("members %+v, want 3 IDs", ms)
	}
	return ids
}
