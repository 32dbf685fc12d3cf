package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// nemesis injects the faults: one loop for processes (pause, kill, restore)
// and one for the network (partitions), each seeded.
type nemesis struct {
	c     *testCluster
	start time.Time

	mu       sync.Mutex
	events   []string
	restores []Restore
	counts   map[string]int
	errs     []error
	wg       sync.WaitGroup
}

// Fault kinds, as counted in the report.
const (
	faultPause     = "pause"
	faultKill      = "kill"
	faultRestore   = "restore"
	faultPartition = "partition"
	faultBackup    = "backup"
)

// startNemesis runs both loops until ctx ends; each undoes its current
// fault before it returns. wait waits for both.
func startNemesis(ctx context.Context, c *testCluster, seed uint64) *nemesis {
	n := &nemesis{c: c, start: time.Now(), counts: map[string]int{}}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.processLoop(ctx, rand.New(rand.NewPCG(seed, 0x70726f63)))
	}()
	go func() {
		defer n.wg.Done()
		n.networkLoop(ctx, rand.New(rand.NewPCG(seed, 0x6e6574)))
	}()
	return n
}

func (n *nemesis) wait() { n.wg.Wait() }

func (n *nemesis) logf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	n.events = append(n.events, fmt.Sprintf("t+%5.1fs (%s) ", now.Sub(n.start).Seconds(), now.Format("15:04:05.000"))+
		fmt.Sprintf(format, args...))
}

func (n *nemesis) count(kind string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.counts[kind]++
}

func (n *nemesis) fail(err error) {
	n.logf("ERROR %v", err)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.errs = append(n.errs, err)
}

// between is a random duration in [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// hold sleeps d, or less if ctx ends; false when ctx ended.
func hold(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (n *nemesis) processLoop(ctx context.Context, rng *rand.Rand) {
	for hold(ctx, between(rng, 500*time.Millisecond, 2*time.Second)) {
		nd := n.c.nodes[rng.IntN(len(n.c.nodes))]
		backup := rng.IntN(3) != 0
		var restorable []*testNode // nodes with a copy of their file
		for _, o := range n.c.nodes {
			if len(o.backupList()) > 0 {
				restorable = append(restorable, o)
			}
		}
		var err error
		switch r := rng.Float64(); {
		case r < 0.3:
			err = n.pause(ctx, nd, backup, between(rng, time.Second, 4*time.Second))
		case r < 0.6 || len(restorable) == 0:
			err = n.kill(ctx, nd, backup, between(rng, 300*time.Millisecond, 3*time.Second))
		default:
			nd = restorable[rng.IntN(len(restorable))]
			bs := nd.backupList()
			err = n.restore(ctx, nd, bs[rng.IntN(len(bs))], between(rng, 300*time.Millisecond, 2*time.Second))
		}
		if err != nil {
			n.fail(err)
			return
		}
	}
}

func (nd *testNode) backupList() []backupCopy {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return slices.Clone(nd.backups)
}

// pause stops nd for d (less if ctx ends), taking a copy of its data file
// meanwhile if backup.
func (n *nemesis) pause(ctx context.Context, nd *testNode, backup bool, d time.Duration) error {
	if err := nd.pause(); err != nil {
		return err
	}
	n.count(faultPause)
	what := ""
	if backup {
		if err := nd.backup(); err != nil {
			return errors.Join(err, nd.resume())
		}
		n.count(faultBackup)
		what = ", data file copied"
	}
	n.logf("pause %s for %v%s", nd.name, d.Round(time.Millisecond), what)
	hold(ctx, d)
	n.logf("resume %s", nd.name)
	return nd.resume()
}

// kill kills nd and restarts it after d (less if ctx ends), taking a copy
// of its data file meanwhile if backup.
func (n *nemesis) kill(ctx context.Context, nd *testNode, backup bool, d time.Duration) error {
	if err := nd.kill(); err != nil {
		return err
	}
	n.count(faultKill)
	what := ""
	if backup {
		if err := nd.backup(); err != nil {
			return err
		}
		n.count(faultBackup)
		what = ", data file copied"
	}
	n.logf("kill %s for %v%s", nd.name, d.Round(time.Millisecond), what)
	hold(ctx, d)
	n.logf("restart %s", nd.name)
	return n.c.start(nd)
}

// restore kills nd, puts the older copy of its data file in place and
// restarts it after d.
func (n *nemesis) restore(ctx context.Context, nd *testNode, backup backupCopy, d time.Duration) error {
	if err := nd.kill(); err != nil {
		return err
	}
	if err := copyFile(backup.path, nd.db); err != nil {
		return fmt.Errorf("restore %s: %w", nd.name, err)
	}
	n.mu.Lock()
	n.restores = append(n.restores, Restore{Node: nd.idx, Copied: backup.at, At: time.Now()})
	n.mu.Unlock()
	n.count(faultRestore)
	n.logf("restore %s from %s (copied at t+%.1fs), restart after %v", nd.name, filepath.Base(backup.path),
		backup.at.Sub(n.start).Seconds(), d.Round(time.Millisecond))
	hold(ctx, d)
	n.logf("restart %s", nd.name)
	return n.c.start(nd)
}

func (n *nemesis) networkLoop(ctx context.Context, rng *rand.Rand) {
	nodes := n.c.nodes
	if len(nodes) < 2 {
		return
	}
	for hold(ctx, between(rng, time.Second, 3*time.Second)) {
		perm := rng.Perm(len(nodes))
		cut := 1 + rng.IntN(len(nodes)-1)
		a, b := perm[:cut], perm[cut:]
		d := between(rng, 2*time.Second, 6*time.Second)
		err := n.partition(a, b)
		if err == nil {
			n.count(faultPartition)
			n.logf("partition %v | %v for %v", names(nodes, a), names(nodes, b), d.Round(time.Millisecond))
			hold(ctx, d)
			n.logf("heal partition")
		}
		if err := errors.Join(err, n.c.clearRules()); err != nil {
			n.fail(err)
			return
		}
	}
}

// partition writes, for every node of each side, the other side's IPs.
func (n *nemesis) partition(a, b []int) error {
	ips := func(side []int) []string {
		var out []string
		for _, i := range side {
			out = append(out, n.c.nodes[i].ip)
		}
		return out
	}
	var err error
	for _, i := range a {
		err = errors.Join(err, n.c.nodes[i].setRules(ips(b)))
	}
	for _, i := range b {
		err = errors.Join(err, n.c.nodes[i].setRules(ips(a)))
	}
	return err
}

func (c *testCluster) clearRules() error {
	var err error
	for _, nd := range c.nodes {
		err = errors.Join(err, nd.setRules(nil))
	}
	return err
}

func names(nodes []*testNode, idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, nodes[i].name)
	}
	return out
}

// heal undoes whatever is left after the loops stopped: a node still
// paused is resumed, one down (killed, or crashed) restarted, every rule
// cleared.
func (c *testCluster) heal() error {
	err := c.clearRules()
	for _, nd := range c.nodes {
		switch nd.getState() {
		case paused:
			err = errors.Join(err, nd.resume())
		case down:
			err = errors.Join(err, c.start(nd))
		}
	}
	return err
}
