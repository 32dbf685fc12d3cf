package localcluster

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// ipPool hands out loopback addresses, one per Pod, from first to last,
// round robin so that a released address is not reused soon (no stale
// gossip or DNS answers).
type ipPool struct {
	mu    sync.Mutex
	first netip.Addr
	last  netip.Addr
	next  netip.Addr
	used  map[netip.Addr]bool
}

func newIPPool(first, last string) (*ipPool, error) {
	a, err := netip.ParseAddr(first)
	if err != nil {
		return nil, fmt.Errorf("first pod IP: %w", err)
	}
	if !a.Is4() || !a.IsLoopback() || a == netip.MustParseAddr("127.0.0.1") {
		return nil, fmt.Errorf("first pod IP %s: want an IPv4 loopback address other than 127.0.0.1", a)
	}
	z, err := netip.ParseAddr(last)
	if err != nil || !z.IsLoopback() || z.Less(a) {
		return nil, fmt.Errorf("last pod IP %q: want a loopback address after %s", last, a)
	}
	return &ipPool{first: a, last: z, next: a, used: map[netip.Addr]bool{}}, nil
}

// usable skips addresses ending in .0 or .255, which some software treats
// as network or broadcast addresses.
func usable(a netip.Addr) bool {
	b := a.As4()
	return b[3] != 0 && b[3] != 255
}

func (p *ipPool) allocate() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := p.next
	for {
		a := p.next
		p.next = p.next.Next()
		if p.last.Less(p.next) {
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
	if err != nil || a.Less(p.first) || p.last.Less(a) { // hostNetwork's 127.0.0.1
		return
	}
	p.mu.Lock()
	delete(p.used, a)
	p.mu.Unlock()
}

// leaseBlock picks the first 127.B.0.0/16 block (B from 1 to 254) no other
// local cluster on this machine holds, so that clusters running at the same
// time (parallel test packages) never give two Pods one address and port.
// The lease is an exclusive flock on a file in the temporary directory,
// held until release (or until the process dies). The file holds no data,
// so closing it cannot lose any.
func leaseBlock() (first, last string, release func(), err error) {
	dir := filepath.Join(os.TempDir(), "localcluster-ip-blocks")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", "", nil, err
	}
	for b := 1; b <= 254; b++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("127.%d.lock", b)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return "", "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			_ = f.Close() // nothing was written to it
			continue
		}
		return fmt.Sprintf("127.%d.0.1", b), fmt.Sprintf("127.%d.255.254", b), func() { _ = f.Close() }, nil
	}
	return "", "", nil, errors.New("every 127.B.0.0/16 block is held by another local cluster")
}
