package localcluster

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ipPool hands out loopback addresses, one per Pod, round robin so that a
// released address is not reused soon (no stale gossip or DNS answers).
type ipPool struct {
	mu    sync.Mutex
	first netip.Addr
	next  netip.Addr
	used  map[netip.Addr]bool
}

func newIPPool(first string) (*ipPool, error) {
	a, err := netip.ParseAddr(first)
	if err != nil {
		return nil, fmt.Errorf("first pod IP: %w", err)
	}
	if !a.Is4() || !a.IsLoopback() || a == netip.MustParseAddr("127.0.0.1") {
		return nil, fmt.Errorf("first pod IP %s: want an IPv4 loopback address other than 127.0.0.1", a)
	}
	return &ipPool{first: a, next: a, used: map[netip.Addr]bool{}}, nil
}

// usable skips addresses ending in .0 or .255, which some software treats
// as network or broadcast addresses.
func usable(a netip.Addr) bool {
	b := a.As4()
	return a.IsLoopback() && b[3] != 0 && b[3] != 255
}

func (p *ipPool) allocate() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.next
	for {
		a := p.next
		p.next = p.next.Next()
		if !p.next.IsLoopback() {
			p.next = p.first
		}
		if usable(a) && !p.used[a] {
			p.used[a] = true
			return a.String(), nil
		}
		if p.next == start {
			return "", errors.New("no loopback address left for a pod")
		}
	}
}

func (p *ipPool) release(ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	p.mu.Lock()
	delete(p.used, a)
	p.mu.Unlock()
}
