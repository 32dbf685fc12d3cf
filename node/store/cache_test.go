package store

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/yzma/yzma/node/crdt"
)

// Under concurrent writes and reads, a read never returns less than what
// was acknowledged for the key before the read began: the cache is never
// behind the file (each key has one writer counting up; readers check).
func TestReadCacheIsNeverStale(t *testing.T) {
	s := openStore(t)
	const keys, writes = 8, 300
	var acked [keys]atomic.Int64
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for k := range keys {
		wg.Go(func() {
			for i := 1; i <= writes; i++ {
				if _, err := s.Put(ctx, fmt.Appendf(nil, "k%d", k), []byte(strconv.Itoa(i)), "", nil); err != nil {
					t.Error(err)
					return
				}
				acked[k].Store(int64(i))
				if got := readInt(t, s, k); got < i { // read your write
					t.Errorf("k%d: wrote %d, then read %d", k, i, got)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 4 {
		readers.Go(func() {
			for i := r; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := i % keys
				floor := acked[k].Load()
				if floor == 0 {
					continue
				}
				if got := readInt(t, s, k); int64(got) < floor {
					t.Errorf("k%d: acknowledged %d before the read, read %d", k, floor, got)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for k := range keys {
		if got := readInt(t, s, k); got != writes {
			t.Errorf("k%d: %d at the end, want %d", k, got, writes)
		}
	}
	t.Logf("%d checked reads", reads.Load())
}

func readInt(t *testing.T, s *Store, k int) int {
	t.Helper()
	it, err := s.Get(fmt.Appendf(nil, "k%d", k))
	if err != nil {
		t.Errorf("get k%d: %v", k, err)
		return -1
	}
	n, _ := strconv.Atoi(string(it.Shown().Value))
	return n
}

// The cache stays within its bytes, evicting, and what it evicts is read
// from the file again.
func TestReadCacheIsBounded(t *testing.T) {
	c := newStateCache()
	sh := &c.shards[0]
	for i := range 2 * cacheShardBytes / 1024 {
		sh.put(fmt.Sprint("key", i), stateOfSize(1000))
	}
	if sh.bytes > cacheShardBytes || len(sh.entries) == 0 {
		t.Fatalf("shard holds %d bytes in %d entries; bound %d", sh.bytes, len(sh.entries), cacheShardBytes)
	}
	sh.put("huge", stateOfSize(cacheShardBytes))
	if sh.entries["huge"] != nil {
		t.Fatal("a state larger than a quarter of the shard was cached")
	}
	s := openStore(t)
	for i := range 50 {
		mustPut(t, s, fmt.Sprint("k", i), fmt.Sprint("v", i))
	}
	for i := range 50 { // fill
		if value(t, s, fmt.Sprint("k", i)) != fmt.Sprint("v", i) {
			t.Fatal("wrong value")
		}
	}
	s.cache = newStateCache() // everything evicted
	for i := range 50 {
		if got := value(t, s, fmt.Sprint("k", i)); got != fmt.Sprint("v", i) {
			t.Fatalf("k%d = %q after eviction", i, got)
		}
	}
}

func stateOfSize(n int) *crdt.KeyState {
	return &crdt.KeyState{Versions: []crdt.Version{{Dot: crdt.Dot{Node: 1, Counter: 1}, Value: make([]byte, n)}}}
}

// A read whose transaction predates a commit of the same key does not
// cache what it read: the next read sees the commit.
func TestReadCacheFillLosesToACommit(t *testing.T) {
	s := openStore(t)
	mustPut(t, s, "k", "old")
	s.fillHook = func() {
		s.fillHook = nil
		mustPut(t, s, "k", "new") // commits between the read's transaction and its fill
	}
	if got := value(t, s, "k"); got != "old" {
		t.Fatalf("first read = %q, want old (its transaction began first)", got)
	}
	if got := value(t, s, "k"); got != "new" {
		t.Fatalf("read after the commit = %q, want new", got)
	}
}
