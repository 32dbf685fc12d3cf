package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
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
