package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yzma/yzma/node/crdt"
)

// BenchmarkPut measures durable single-node writes (each acknowledged after
// its fsynced commit) with 1, 16 and 64 concurrent writers sharing commits.
func BenchmarkPut(b *testing.B) {
	for _, writers := range []int{1, 16, 64, 2000} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openStore(b)
			value := make([]byte, 256)
			var next atomic.Int64
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if _, err := s.Put(context.Background(), fmt.Appendf(nil, "key-%d", i%10000), value, "", nil); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkGet measures reads of random keys among 10,000.
func BenchmarkGet(b *testing.B) {
	s := openStore(b)
	const n = 10000
	value := make([]byte, 256)
	for i := 0; i < n; i += 500 {
		var wg sync.WaitGroup
		for j := i; j < i+500; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Put(context.Background(), fmt.Appendf(nil, "key-%d", j), value, "", nil); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i = (i + 7919) % n
			if _, err := s.Get(fmt.Appendf(nil, "key-%d", i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPutAsDataGrows compares durable writes/s (64 writers, 100-byte
// values, random keys) into an empty file and into one already holding
// YZMA_BENCH_KEYS keys (default 1,000,000), overwriting random ones of
// them; it reports both and their ratio. Loading takes a while, so it runs
// only with YZMA_BENCH_LOADED=1 (make bench-loaded).
func BenchmarkPutAsDataGrows(b *testing.B) {
	if os.Getenv("YZMA_BENCH_LOADED") == "" {
		b.Skip("set YZMA_BENCH_LOADED=1 (make bench-loaded): it loads a million keys")
	}
	keys := 1_000_000
	if v := os.Getenv("YZMA_BENCH_KEYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		keys = n
	}
	const writes, writers = 30_000, 64
	value := bytes.Repeat([]byte("v"), 100)
	rate := func(s *Store, space int) float64 {
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for next.Add(1) <= writes {
					if _, err := s.Put(context.Background(), fmt.Appendf(nil, "key-%07d", rnd.IntN(space)), value, "", nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return writes / time.Since(start).Seconds()
	}
	for range b.N {
		empty := rate(openStore(b), 100_000)
		loaded := openStore(b)
		origin := crdt.NodeID(0x5eed)
		for start := 0; start < keys; start += 10_000 {
			ops := make([]crdt.Op, 0, 10_000)
			for i := start; i < min(start+10_000, keys); i++ {
				ops = append(ops, crdt.Op{Key: fmt.Appendf(nil, "key-%07d", i), Dot: crdt.Dot{Node: origin, Counter: uint64(i + 1)}, Value: value})
			}
			if _, err := loaded.ApplyRemote(context.Background(), ops); err != nil {
				b.Fatal(err)
			}
		}
		full := rate(loaded, keys)
		b.ReportMetric(empty, "empty-writes/s")
		b.ReportMetric(full, "loaded-writes/s")
		b.ReportMetric(full/empty, "loaded/empty")
	}
}

// BenchmarkPrune measures dropping a large log, per entry dropped: it must
// stay flat as the log grows (re-seeking after each delete made it
// quadratic: 50,000 entries took seconds and held every write meanwhile).
func BenchmarkPrune(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, other := openStore(b), openStore(b)
				for i := 0; i < n; i += 1000 {
					var ops []crdt.Op
					for j := i; j < i+1000; j++ {
						ops = append(ops, crdt.Op{Key: fmt.Appendf(nil, "k%d", j), Dot: crdt.Dot{Node: other.Origin(), Counter: uint64(j + 1)}, Value: []byte("v")})
					}
					if _, err := s.ApplyRemote(context.Background(), ops); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if pruned, err := s.Prune(context.Background(), s.VersionVector()); err != nil || pruned != n {
					b.Fatalf("pruned %d, %v", pruned, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}
