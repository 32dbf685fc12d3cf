package store

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/hlc"
)

// Expiring versions (PutExpiring: a write with a TTL). A version carries the
// hybrid time it expires at (crdt.Version.Expires), replicated with it, so
// every replica makes the same decision by its own clock, and the replicas
// agree within their clocks' skew. From that time on, reads, listings and
// the change feed leave the version out, as if deleted: a key whose only
// live version expired is not found, and a later write (with or without a
// TTL) supersedes it like any other version, so writing without a TTL
// clears one.
//
// Expire, called every second or so, does the rest: it announces each
// expiry on the change feed (a watcher sees it as a delete, or as the next
// sibling shown), and removes the expired version from the file once
// every member has applied it (stable), so that none can still ask for it;
// a replica that removed it keeps its dot in its version vector and drops
// it from anything merged later, as with any removal. Until then it stays
// stored, hidden. The queue of expiry times is kept in memory and rebuilt
// at Open from the keys (only in a file that ever held a TTL).

// ErrBadTTL: a negative time to live.
var ErrBadTTL = errors.New("bad TTL")

var metaTTL = []byte("ttl_seen") // set once any version with an expiry was stored

// expiry is one expiry time of a key in the queue.
type expiry struct {
	at        hlc.Timestamp
	key       string
	announced bool // already announced on the feed, waiting to be stable
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

type expiryQueue struct {
	mu sync.Mutex
	h  expiryHeap
}

func (q *expiryQueue) add(es []expiry) {
	if len(es) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range es {
		heap.Push(&q.h, e)
	}
}

// expireBatch bounds the keys one Expire handles (one transaction), so
// that many keys expiring together never hold the committer for long.
const expireBatch = 4096

// due removes and returns up to expireBatch keys with entries at or before
// now, one entry per key (an announced one wins, so a key is not announced
// twice).
func (q *expiryQueue) due(now hlc.Timestamp) map[string]bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out map[string]bool
	for q.h.Len() > 0 && q.h[0].at <= now && len(out) < expireBatch {
		e := heap.Pop(&q.h).(expiry)
		if out == nil {
			out = map[string]bool{}
		}
		out[e.key] = out[e.key] || e.announced
	}
	return out
}

// Expiring is the number of expiry times queued (yzma_store_expiring_versions).
func (s *Store) Expiring() int {
	s.expiry.mu.Lock()
	defer s.expiry.mu.Unlock()
	return s.expiry.h.Len()
}

// Expire announces the versions expired by now and removes from the file
// those every member has applied (their dots at or below what stableNow
// returns; nil: none is known stable), up to expireBatch keys a call (the rest wait for the
// next). It returns how many versions it removed.
func (s *Store) Expire(ctx context.Context, stableNow func() crdt.VersionVector) (int, error) {
	now := s.clock.Peek()
	due := s.expiry.due(now)
	if len(due) == 0 {
		return 0, nil
	}
	stable := stableNow() // asked only when something is due: it may cost the caller
	removed := 0
	var retry []expiry
	err := s.do(ctx, 0, false, func(b *batch) error {
		removed, retry = 0, nil
		var news []Change
		for key, announced := range due {
			st, err := b.load([]byte(key))
			if err != nil {
				return err
			}
			expired, waiting := 0, false
			kept := st.Versions[:0:0]
			for _, v := range st.Versions {
				switch {
				case !v.Expired(now):
					kept = append(kept, v)
				case stable.Covers(v.Dot):
					expired++
				default:
					kept, waiting = append(kept, v), true
					expired++
				}
			}
			if expired == 0 {
				continue // replaced or deleted meanwhile: nothing to do
			}
			if !announced {
				cp := st
				news = append(news, Change{Key: []byte(key), state: &cp})
			}
			if waiting {
				retry = append(retry, expiry{at: now.Add(time.Second), key: key, announced: true})
			}
			if len(kept) < len(st.Versions) {
				removed += len(st.Versions) - len(kept)
				st.Versions = kept
				b.quiet = true // announced already, or in news
				err := b.putState([]byte(key), &st)
				b.quiet = false // the batch is shared with other requests
				if err != nil {
					return err
				}
				b.countLive(true, len(st.Versions) > 0)
			}
		}
		b.changes = append(b.changes, news...)
		return nil
	})
	if err != nil {
		s.expiry.add(dueAgain(due, now)) // try again next time
		return 0, fmt.Errorf("expire: %w", err)
	}
	s.expiry.add(retry)
	return removed, nil
}

func dueAgain(due map[string]bool, now hlc.Timestamp) []expiry {
	out := make([]expiry, 0, len(due))
	for k, a := range due {
		out = append(out, expiry{at: now, key: k, announced: a})
	}
	return out
}

// loadExpiring fills the expiry queue from the keys, in a file that ever
// stored a version with an expiry.
func (s *Store) loadExpiring(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta).Get(metaTTL) == nil {
		return nil
	}
	var es []expiry
	err := tx.Bucket(bucketKeys).ForEach(func(k, v []byte) error {
		var st crdt.KeyState
		if err := unmarshal(v, &st); err != nil {
			return fmt.Errorf("decode key %q: %w", k, err)
		}
		for _, ver := range st.Versions {
			if ver.Expires != 0 {
				es = append(es, expiry{at: ver.Expires, key: string(k)})
			}
		}
		return nil
	})
	s.expiry.add(es)
	return err
}
