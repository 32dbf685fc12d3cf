package faultnet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EnvFile is the environment variable naming the rules file; a node loads
// this package only when it is set.
const EnvFile = "YZMA_TEST_FAULTS_FILE"

// CheckInterval is how often, at most, Rules looks at its file again.
const CheckInterval = 50 * time.Millisecond

// ErrBlocked is the error of a dial, read or write refused by the rules.
var ErrBlocked = errors.New("faultnet: blocked by the test fault rules")

// Rules is the set of blocked IPs read from a rules file. It is safe for
// concurrent use.
type Rules struct {
	path string

	blocked   atomic.Pointer[map[netip.Addr]bool]
	nextCheck atomic.Int64 // unix nanoseconds of the next look at the file

	mu   sync.Mutex  // one reload at a time
	info fs.FileInfo // of the file last read; nil: missing
	bad  []string    // lines of the last read that are not IPs
}

// NewRules returns the rules of the file at path, read at once.
func NewRules(path string) *Rules {
	r := &Rules{path: path}
	r.blocked.Store(&map[netip.Addr]bool{})
	r.reload(true)
	return r
}

// Path is the rules file.
func (r *Rules) Path() string { return r.path }

// Blocked reports whether ip is blocked now.
func (r *Rules) Blocked(ip netip.Addr) bool {
	if now := time.Now().UnixNano(); now >= r.nextCheck.Load() {
		r.reload(false)
	}
	return (*r.blocked.Load())[ip.Unmap()]
}

// BlockedAddr reports whether the IP of addr (host:port, or a bare host) is
// blocked. A host name is not resolved: it is never blocked.
func (r *Rules) BlockedAddr(addr string) bool {
	ip, ok := addrIP(addr)
	return ok && r.Blocked(ip)
}

// List returns the blocked IPs, sorted.
func (r *Rules) List() []netip.Addr {
	if now := time.Now().UnixNano(); now >= r.nextCheck.Load() {
		r.reload(false)
	}
	m := *r.blocked.Load()
	out := make([]netip.Addr, 0, len(m))
	for ip := range m {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// BadLines returns the lines of the file last read that were ignored
// because they are not IP addresses.
func (r *Rules) BadLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

// reload reads the file again if it changed (always when force).
func (r *Rules) reload(force bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !force && now.UnixNano() < r.nextCheck.Load() {
		return // another caller just did it
	}
	r.nextCheck.Store(now.Add(CheckInterval).UnixNano())
	info, err := os.Stat(r.path)
	if err != nil {
		info = nil // missing or unreadable: nothing blocked
	}
	if !force && sameFile(r.info, info) {
		return
	}
	var data []byte
	if info != nil {
		if data, err = os.ReadFile(r.path); err != nil {
			info, data = nil, nil
		}
	}
	blocked, bad := Parse(data)
	r.info, r.bad = info, bad
	r.blocked.Store(&blocked)
}

func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// Parse reads rules: one IP per line, '#' starts a comment. It returns the
// blocked IPs and the lines that are not IPs.
func Parse(data []byte) (map[netip.Addr]bool, []string) {
	blocked := map[netip.Addr]bool{}
	var bad []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ip, err := netip.ParseAddr(line)
		if err != nil {
			bad = append(bad, line)
			continue
		}
		blocked[ip.Unmap()] = true
	}
	return blocked, bad
}

// WriteRules replaces the rules file at path with ips, atomically (a new
// file renamed over the old one), so a reader never sees half a file.
func WriteRules(path string, ips []string) error {
	var b strings.Builder
	b.WriteString("# blocked IPs (faultnet)\n")
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("faultnet: %q is not an IP address", ip)
		}
		b.WriteString(ip + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("faultnet: %w", err)
	}
	_, err = tmp.WriteString(b.String())
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("faultnet: write rules: %w", err)
	}
	return nil
}

// addrIP is the IP of host:port or of a bare host; false for a host name.
func addrIP(addr string) (netip.Addr, bool) {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 { // an IPv6 zone
		host = host[:i]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// netAddrIP is the IP of a TCP or UDP address.
func netAddrIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	return addrIP(a.String())
}

// blockedErr is the error for a refused peer.
func blockedErr(op string, ip netip.Addr) error {
	return fmt.Errorf("%s %s: %w", op, ip, ErrBlocked)
}

// resolve returns the IPs of addr's host: itself when it is an IP.
func resolve(ctx context.Context, addr string) ([]netip.Addr, error) {
	if ip, ok := addrIP(addr); ok {
		return []netip.Addr{ip}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, err
}
