package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/proctest"
	"github.com/yzma/yzma/node/client"
)

// binary is bin/node, built once for the suite.
var binary string

func TestMain(m *testing.M) {
	os.Exit(proctest.Main(m, proctest.Build{Pkg: "github.com/yzma/yzma/cmd/node", Out: &binary}))
}

// runConfig is one invocation's choice of runs, from the environment.
type runConfig struct {
	seed     uint64
	seeds    int
	duration time.Duration
	nodes    int
	report   string // FAULTS_REPORT: append JSON lines here
	keep     bool   // FAULTS_KEEP: keep data and logs
}

// convergeTimeout bounds the wait for equal digests after the heal.
const convergeTimeout = 2 * time.Minute

func configFromEnv(t *testing.T) runConfig {
	t.Helper()
	cfg := runConfig{seed: 1, seeds: 1, duration: 8 * time.Second, nodes: 3,
		report: os.Getenv("FAULTS_REPORT"), keep: os.Getenv("FAULTS_KEEP") != ""}
	var err error
	if v := os.Getenv("SEED"); v != "" {
		if cfg.seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("SEEDS"); v != "" {
		if cfg.seeds, err = strconv.Atoi(v); err != nil || cfg.seeds < 1 {
			t.Fatalf("SEEDS=%q: want a positive number", v)
		}
	}
	if v := os.Getenv("DURATION"); v != "" {
		if cfg.duration, err = time.ParseDuration(v); err != nil || cfg.duration <= 0 {
			t.Fatalf("DURATION=%q: want a positive duration such as 30s", v)
		}
	}
	if v := os.Getenv("NODES"); v != "" {
		if cfg.nodes, err = strconv.Atoi(v); err != nil || cfg.nodes < 1 || cfg.nodes > maxNodes {
			t.Fatalf("NODES=%q: want 1 to %d", v, maxNodes)
		}
	}
	return cfg
}

// TestFaults runs the suite once per seed; see the package documentation.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fault injection runs node processes for a while; skipped with -short")
	}
	cfg := configFromEnv(t)
	var reports []Report
	for i := range cfg.seeds {
		seed := cfg.seed + uint64(i)
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			reports = append(reports, runOnce(t, cfg, seed))
		})
	}
	if len(reports) > 1 {
		t.Log(summary(reports))
	}
}

// Report is one run's figures.
type Report struct {
	Seed       uint64
	Nodes      int
	Duration   string
	OpsOK      int
	OpsFailed  int
	OpsUnknown int
	Faults     map[string]int // pause, kill, restore, partition, backup
	// The checker's verdict (see Check).
	Lost, Resurrected, Divergent, Unexpected int
	// What a restore may legitimately have undone (not counted above).
	LostToRestore, ResurrectedByRestore int
	CheckedWrites, UncheckableWrites    int
	Crashes                             int // node exits the nemesis did not cause
	Converged                           bool
	ConvergeSeconds                     float64  // from the heal to equal digests, if Converged
	Keys                                int64    // live keys at the end
	Errors                              []string `json:",omitempty"`
}

func (r Report) String() string {
	conv := fmt.Sprintf("%.2fs", r.ConvergeSeconds)
	if !r.Converged {
		conv = "NEVER"
	}
	return fmt.Sprintf("seed=%d nodes=%d duration=%s ops ok=%d failed=%d unknown=%d faults pause=%d kill=%d restore=%d partition=%d"+
		" | lost=%d resurrected=%d divergent=%d unexpected=%d crashes=%d converge=%s keys=%d"+
		" (writes checked %d, uncheckable %d; rolled back by restores: %d writes, %d removals)",
		r.Seed, r.Nodes, r.Duration, r.OpsOK, r.OpsFailed, r.OpsUnknown, r.Faults[faultPause], r.Faults[faultKill],
		r.Faults[faultRestore], r.Faults[faultPartition], r.Lost, r.Resurrected, r.Divergent, r.Unexpected, r.Crashes,
		conv, r.Keys, r.CheckedWrites, r.UncheckableWrites, r.LostToRestore, r.ResurrectedByRestore)
}

func (r Report) ok() bool {
	return r.Lost == 0 && r.Resurrected == 0 && r.Divergent == 0 && r.Unexpected == 0 && r.Crashes == 0 &&
		r.Converged && len(r.Errors) == 0
}

// summary is the median and worst convergence over several runs.
func summary(rs []Report) string {
	var secs []float64
	bad := 0
	for _, r := range rs {
		if r.Converged {
			secs = append(secs, r.ConvergeSeconds)
		}
		if !r.ok() {
			bad++
		}
	}
	slices.Sort(secs)
	s := fmt.Sprintf("%d runs, %d with findings; converged %d", len(rs), bad, len(secs))
	if len(secs) > 0 {
		med := secs[len(secs)/2]
		if len(secs)%2 == 0 {
			med = (secs[len(secs)/2-1] + secs[len(secs)/2]) / 2
		}
		s += fmt.Sprintf(": time to converge median %.2fs, worst %.2fs", med, secs[len(secs)-1])
	}
	return s
}

func runOnce(t *testing.T, cfg runConfig, seed uint64) Report {
	dir := t.TempDir()
	if cfg.keep {
		var err error
		if dir, err = os.MkdirTemp("", fmt.Sprint("yzma-faults-seed", seed, "-")); err != nil {
			t.Fatal(err)
		}
		t.Logf("data and logs kept in %s", dir)
	}
	c := newCluster(t, cfg.nodes, dir)
	c.startAll()

	w := startWorkload(c, seed)
	ctx, cancel := context.WithTimeout(t.Context(), cfg.duration)
	defer cancel()
	nem := startNemesis(ctx, c, seed)
	<-ctx.Done()
	nem.wait()
	healErr := c.heal()
	healed := time.Now()
	ops := w.finish()

	rep := Report{Seed: seed, Nodes: cfg.nodes, Duration: cfg.duration.String(), Faults: map[string]int{}}
	nem.mu.Lock()
	for k, v := range nem.counts {
		rep.Faults[k] = v
	}
	for _, err := range append(nem.errs, healErr) {
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	h := History{Ops: ops, Restores: slices.Clone(nem.restores)}
	events := slices.Clone(nem.events)
	nem.mu.Unlock()
	for _, o := range ops {
		switch o.Outcome {
		case OK:
			rep.OpsOK++
		case Failed:
			rep.OpsFailed++
		default:
			rep.OpsUnknown++
		}
	}

	var digests []string
	if healErr == nil {
		rep.Converged, digests = c.converge(t, convergeTimeout)
		rep.ConvergeSeconds = time.Since(healed).Seconds()
	} else {
		digests = c.digests(t) // a node did not come back: no use waiting
	}
	final, keys := c.readFinal(t, h)
	final.Digests = digests
	rep.Keys = keys
	res := Check(h, final)
	rep.Lost, rep.Resurrected, rep.Divergent, rep.Unexpected = res.Lost, res.Resurrected, res.Divergent, res.Unexpected
	rep.LostToRestore, rep.ResurrectedByRestore = res.LostToRestore, res.ResurrectedByRestore
	rep.CheckedWrites, rep.UncheckableWrites = res.CheckedWrites, res.UncheckableWrites
	for _, nd := range c.nodes {
		nd.mu.Lock()
		rep.Crashes += nd.crashes
		nd.mu.Unlock()
	}

	t.Logf("nemesis:\n  %s", strings.Join(events, "\n  "))
	t.Logf("operations not acknowledged, by cause: %s", errorKinds(ops))
	t.Logf("REPORT %s", rep)
	writeReport(t, cfg.report, rep)
	if !rep.ok() {
		t.Errorf("faults found: %s", rep)
		explain(t, c, h, final, res, events, rep)
	}
	return rep
}

// converge polls every node's digest until all are equal and returns them.
func (c *testCluster) converge(t *testing.T, timeout time.Duration) (bool, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var digests []string
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		digests = c.digests(t)
		for _, d := range digests {
			if d == "" || d != digests[0] {
				return false, nil
			}
		}
		return true, nil
	})
	return err == nil, digests
}

// digests reads every node's digest; "" where it fails.
func (c *testCluster) digests(t *testing.T) []string {
	out := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		d, err := nd.client.Digest(ctx)
		cancel()
		if err == nil {
			out[i] = d.Digest
		}
	}
	return out
}

// readFinal reads, from every node, every key of the history and of the
// node listings, with all siblings; it also returns the live key count.
func (c *testCluster) readFinal(t *testing.T, h History) (Final, int64) {
	t.Helper()
	keys := map[string]bool{}
	for _, o := range h.Ops {
		keys[o.Key] = true
	}
	listed := make([]int, len(c.nodes))
	for i, nd := range c.nodes {
		after := ""
		for page := 0; page < 10_000; page++ {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			p, err := nd.client.List(ctx, "", after, 1000)
			cancel()
			if err != nil {
				t.Logf("list keys on %s: %v", nd.name, err)
				break
			}
			for _, e := range p.Keys {
				keys[e.Key] = true
			}
			listed[i] += len(p.Keys)
			if after = p.Next; after == "" {
				break
			}
		}
	}
	all := slices.Sorted(maps.Keys(keys))
	final := Final{States: make([]State, len(c.nodes))}
	var wg sync.WaitGroup
	for i, nd := range c.nodes {
		wg.Go(func() { final.States[i] = nd.readState(t.Context(), all) })
	}
	wg.Wait()
	return final, int64(slices.Max(listed))
}

// readState reads keys from nd with 4 readers; nil if any read fails.
func (nd *testNode) readState(ctx context.Context, keys []string) State {
	const readers = 4
	st := State{}
	var mu sync.Mutex
	failed := false
	next := make(chan string)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for key := range next {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				sib, err := nd.client.GetSiblings(rctx, key)
				cancel()
				mu.Lock()
				switch {
				case errors.Is(err, client.ErrNotFound):
				case err != nil:
					failed = true
				default:
					var vs []string
					for _, v := range sib.Versions {
						vs = append(vs, string(v.Data))
					}
					slices.Sort(vs)
					st[key] = vs
				}
				mu.Unlock()
			}
		})
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	if failed {
		return nil
	}
	return st
}

// writeReport appends rep as one JSON line to path, if set.
func writeReport(t *testing.T, path string, rep Report) {
	t.Helper()
	if path == "" {
		return
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("FAULTS_REPORT: %v", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err = errors.Join(err, f.Close()); err != nil {
		t.Fatalf("FAULTS_REPORT: %v", err)
	}
}

// explain logs what the checker found, with the nemesis's events and the
// operations on the keys involved.
func explain(t *testing.T, c *testCluster, h History, final Final, res Result, events []string, rep Report) {
	t.Helper()
	t.Logf("replica groups (by digest and state): %v; reference node-%d", res.Groups, res.Reference)
	for _, g := range res.Groups[min(1, len(res.Groups)):] {
		n := g[0]
		if final.States[n] == nil {
			t.Logf("  group %v: state unreadable", g)
			continue
		}
		other := Check(h, Final{Digests: []string{"-"}, States: []State{final.States[n]}})
		t.Logf("  group %v judged alone: lost=%d resurrected=%d unexpected=%d", g, other.Lost, other.Resurrected, other.Unexpected)
	}
	keys := map[string]bool{}
	for _, o := range res.LostOps {
		t.Logf("LOST %s [%s..%s]", o, o.Start.Format("15:04:05.000"), o.End.Format("15:04:05.000"))
		keys[o.Key] = true
	}
	for _, r := range res.ResurrectedValues {
		w := "unknown write"
		if r.Write != nil {
			w = r.Write.String()
		}
		t.Logf("RESURRECTED %q=%q written by %s; removed by %s", r.Key, r.Value, w, r.By)
		keys[r.Key] = true
	}
	for _, u := range res.UnexpectedValues {
		t.Logf("UNEXPECTED %s", u)
	}
	for _, k := range slices.Sorted(maps.Keys(keys))[:min(len(keys), 3)] {
		var lines []string
		for _, o := range h.Ops {
			if o.Key == k && o.Outcome != Failed {
				lines = append(lines, fmt.Sprintf("%s..%s %s", o.Start.Format("05.000"), o.End.Format("05.000"), o))
			}
		}
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		var held []string
		for i, st := range final.States {
			held = append(held, fmt.Sprintf("node-%d: %q", i, st[k]))
		}
		t.Logf("key %q, last operations:\n  %s\n final: %s", k, strings.Join(lines, "\n  "), strings.Join(held, "; "))
	}
	if rep.Crashes > 0 || len(rep.Errors) > 0 || !rep.Converged {
		for _, nd := range c.nodes {
			t.Logf("%s log tail:\n%s", nd.name, nd.logTail(15))
		}
	}
}

// errorKinds counts the operations that were not acknowledged by outcome,
// kind and cause (the answer's status, or the kind of network error).
func errorKinds(ops []Op) string {
	counts := map[string]int{}
	for _, o := range ops {
		if o.Outcome == OK {
			continue
		}
		cause := o.Err
		switch {
		case strings.Contains(cause, "server answered "):
			cause = cause[strings.Index(cause, "server answered ")+len("server answered "):]
			if len(cause) > 80 {
				cause = cause[:80]
			}
		case strings.Contains(cause, "not found"):
			cause = "404"
		case strings.Contains(cause, "connection refused"):
			cause = "connection refused"
		case strings.Contains(cause, "Client.Timeout"), strings.Contains(cause, "deadline exceeded"):
			cause = "timeout"
		case strings.Contains(cause, "EOF"), strings.Contains(cause, "connection reset"):
			cause = "connection broken"
		}
		counts[fmt.Sprintf("%s %s: %s", o.Outcome, o.Kind, cause)]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return strings.Join(parts, "; ")
}
