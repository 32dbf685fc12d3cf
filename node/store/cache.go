package store

import (
	"hash/maphash"
	"sync"

	"github.com/yzma/yzma/node/crdt"
)

// Reads of hot keys are served from memory: Get otherwise pays a read
// transaction and a decode of the key's state, about a third of what a
// node spends on a read beyond parsing HTTP. The cache holds decoded
// states, bounded in bytes, and is never ahead of or behind the file for
// a reader:
//
//   - Every commit updates the entries of the keys it wrote (or drops
//     them) after the file has them and before any of its writers is
//     answered, so a read after an acknowledged write sees it.
//   - A miss fills the entry from a read transaction, which may be older
//     than a commit finishing meanwhile. Each shard counts the commits
//     that touched it; a fill is kept only if the count did not move
//     between reading it (before the transaction began) and storing the
//     entry, so a stale state is never cached.
//
// Cached states are shared: callers of Get must not modify an Item's
// versions (no caller does; they are answered and dropped).
const (
	cacheShards     = 16
	cacheShardBytes = 2 << 20 // 32 MiB in all
)

type stateCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu      sync.Mutex
	gen     uint64 // commits that touched this shard
	entries map[string]*crdt.KeyState
	bytes   int
}

func newStateCache() *stateCache {
	c := &stateCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].entries = map[string]*crdt.KeyState{}
	}
	return c
}

func (c *stateCache) shard(key []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
}

// get returns the cached state of key, or the shard's generation to pass
// to fill after reading the file.
func (c *stateCache) get(key []byte) (*crdt.KeyState, uint64) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.entries[string(key)], sh.gen
}

// fill caches st, read from the file after get returned gen, unless a
// commit touched the shard since.
func (c *stateCache) fill(key []byte, st *crdt.KeyState, gen uint64) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen == gen && sh.entries[string(key)] == nil {
		sh.put(string(key), st)
	}
}

// committed records the states a commit wrote: cached keys take their new
// state, others are left out (writes do not fill the cache; reads do).
func (c *stateCache) committed(states map[string]*crdt.KeyState) {
	for key, st := range states {
		sh := c.shard([]byte(key))
		sh.mu.Lock()
		sh.gen++
		if old, ok := sh.entries[key]; ok {
			sh.bytes -= stateBytes(key, old)
			delete(sh.entries, key)
			if len(st.Versions) > 0 {
				sh.put(key, st)
			}
		}
		sh.mu.Unlock()
	}
}

// put adds an entry, evicting arbitrary others past the shard's bytes.
func (sh *cacheShard) put(key string, st *crdt.KeyState) {
	n := stateBytes(key, st)
	if n > cacheShardBytes/4 {
		return // not worth what it would evict
	}
	for k, old := range sh.entries { // map order: an arbitrary victim
		if sh.bytes+n <= cacheShardBytes {
			break
		}
		sh.bytes -= stateBytes(k, old)
		delete(sh.entries, k)
	}
	sh.entries[key] = st
	sh.bytes += n
}

func stateBytes(key string, st *crdt.KeyState) int {
	n := len(key) + 64
	for _, v := range st.Versions {
		n += len(v.Value) + len(v.Type) + 48
	}
	return n + 24*len(st.Ctx.Cloud) + 16*len(st.Ctx.VV)
}
