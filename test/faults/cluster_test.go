package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/nettest"
	"github.com/yzma/yzma/internal/proctest"
	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/faultnet"
)

// firstIP is the last octet of node 0's loopback address; node i is on
// 127.0.0.(firstIP+i). No other test uses this range.
const (
	firstIP  = 201
	maxNodes = 50
)

// procState is what the nemesis did to a node's process.
type procState int

const (
	running procState = iota
	paused
	down
)

// testNode is one node process with its fixed addresses and files.
type testNode struct {
	idx             int
	name, ip        string
	apiAddr, gossip string
	dir, db, rules  string
	logPath         string
	client          *client.Client // for the harness: digests, state reads

	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan struct{}
	state        procState
	killing      bool         // the test is killing it: not a crash
	crashes      int          // exits the test did not cause
	backups      []backupCopy // copies of the data file taken while stopped
	backupsTaken int
}

// testCluster is the nodes of one run.
type testCluster struct {
	t     *testing.T
	nodes []*testNode
}

// newCluster prepares n nodes (not started) with their data under dir.
func newCluster(t *testing.T, n int, dir string) *testCluster {
	t.Helper()
	if n < 1 || n > maxNodes {
		t.Fatalf("NODES=%d: want 1 to %d", n, maxNodes)
	}
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprint("127.0.0.", firstIP+i)
		ln, err := net.Listen("tcp", ips[i]+":0")
		if err != nil {
			t.Skipf("cannot listen on %s (needs 127.0.0.0/8 on loopback): %v", ips[i], err)
		}
		_ = ln.Close()
	}
	apiPort := nettest.FreePort(t, ips...)
	gossipPort := nettest.FreePort(t, ips...)
	for tries := 0; gossipPort == apiPort; tries++ {
		if tries > 20 {
			t.Fatal("no second free port")
		}
		gossipPort = nettest.FreePort(t, ips...)
	}
	c := &testCluster{t: t}
	for i, ip := range ips {
		nd := &testNode{
			idx: i, name: fmt.Sprint("node-", i), ip: ip,
			apiAddr: net.JoinHostPort(ip, fmt.Sprint(apiPort)), gossip: net.JoinHostPort(ip, fmt.Sprint(gossipPort)),
			dir: filepath.Join(dir, fmt.Sprint("node-", i)),
		}
		nd.db, nd.rules, nd.logPath = filepath.Join(nd.dir, "data.db"), filepath.Join(nd.dir, "faults.rules"), filepath.Join(nd.dir, "node.log")
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		t.Cleanup(hc.CloseIdleConnections)
		cl, err := client.New("http://"+nd.apiAddr, client.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		nd.client = cl
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(c.killAll)
	return c
}

// env is node nd's environment: its addresses, files and every other node
// as a seed.
func (c *testCluster) env(nd *testNode) []string {
	var seeds []string
	for _, o := range c.nodes {
		if o != nd {
			seeds = append(seeds, o.gossip)
		}
	}
	host, port, _ := net.SplitHostPort(nd.gossip)
	env := proctest.CleanEnv()
	return append(env, "YZMA_API_BIND="+nd.apiAddr, "YZMA_DB_PATH="+nd.db, "YZMA_PEERING_NAME="+nd.name,
		"YZMA_PEERING_BIND_ADDR="+host, "YZMA_PEERING_BIND_PORT="+port,
		"YZMA_PEERING_JOIN="+strings.Join(seeds, ","), faultnet.EnvFile+"="+nd.rules)
}

// start starts nd's process and waits until it answers /healthz. It may
// run outside the test goroutine: it returns errors.
func (c *testCluster) start(nd *testNode) error {
	logf, err := os.OpenFile(nd.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(binary)
	cmd.Env = c.env(nd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s: %w", nd.name, err)
	}
	exited := make(chan struct{})
	nd.mu.Lock()
	nd.cmd, nd.exited, nd.state = cmd, exited, running
	nd.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		nd.mu.Lock()
		if nd.cmd == cmd && nd.state != down && !nd.killing {
			nd.crashes++
			nd.state = down
		}
		nd.mu.Unlock()
		close(exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return poll(ctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("%s exited at start; log: %s", nd.name, nd.logTail(20))
		default:
		}
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		defer hcancel()
		return nd.client.Healthz(hctx) == nil, nil
	})
}

// signal sends sig to nd's process.
func (nd *testNode) signal(sig syscall.Signal) error {
	nd.mu.Lock()
	cmd := nd.cmd
	nd.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s never started", nd.name)
	}
	return cmd.Process.Signal(sig)
}

// pause stops nd with SIGSTOP.
func (nd *testNode) pause() error {
	if err := nd.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	nd.setState(paused)
	return nil
}

// resume continues a paused nd.
func (nd *testNode) resume() error {
	if err := nd.signal(syscall.SIGCONT); err != nil {
		return err
	}
	nd.setState(running)
	return nil
}

// kill kills nd with SIGKILL and waits for it to exit.
func (nd *testNode) kill() error {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.killing = true
	nd.mu.Unlock()
	defer func() {
		nd.mu.Lock()
		nd.killing = false
		nd.mu.Unlock()
	}()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL) // fails only if it is gone already
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s still running 10s after SIGKILL", nd.name)
	}
	nd.setState(down)
	return nil
}

func (nd *testNode) setState(s procState) {
	nd.mu.Lock()
	nd.state = s
	nd.mu.Unlock()
}

func (nd *testNode) getState() procState {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.state
}

// backupCopy is a copy of a node's data file.
type backupCopy struct {
	path string
	at   time.Time // when it was taken
}

// backup copies nd's data file, which must not be written meanwhile (nd is
// paused or down), and keeps the copy.
func (nd *testNode) backup() error {
	nd.mu.Lock()
	nd.backupsTaken++
	b := backupCopy{path: filepath.Join(nd.dir, fmt.Sprint("backup-", nd.backupsTaken, ".db")), at: time.Now()}
	nd.mu.Unlock()
	if err := copyFile(nd.db, b.path); err != nil {
		return fmt.Errorf("back %s up: %w", nd.name, err)
	}
	nd.mu.Lock()
	nd.backups = append(nd.backups, b)
	nd.mu.Unlock()
	return nil
}

// copyFile copies src to dst through a temporary file renamed into place.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Sync(), out.Close())
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// logTail returns the last n lines of nd's log.
func (nd *testNode) logTail(n int) string {
	b, err := os.ReadFile(nd.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// setRules writes nd's fault rules: the IPs it must not reach.
func (nd *testNode) setRules(blocked []string) error {
	return faultnet.WriteRules(nd.rules, blocked)
}

// killAll kills every node process (cleanup).
func (c *testCluster) killAll() {
	for _, nd := range c.nodes {
		nd.mu.Lock()
		cmd, exited := nd.cmd, nd.exited
		nd.killing = true
		nd.mu.Unlock()
		if cmd != nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
	}
}

// startAll starts every node and waits until each is ready and sees all
// of them alive.
func (c *testCluster) startAll() {
	c.t.Helper()
	errs := make(chan error, len(c.nodes))
	for _, nd := range c.nodes {
		go func() { errs <- c.start(nd) }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			c.t.Fatal(err)
		}
	}
	var last string
	testwait.For(c.t, "every node ready and seeing all alive", 60*time.Second, 100*time.Millisecond, func() bool {
		ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
		defer cancel()
		for _, nd := range c.nodes {
			if err := nd.client.Readyz(ctx); err != nil {
				last = fmt.Sprintf("%s not ready: %v", nd.name, err)
				return false
			}
			ms, err := nd.client.Members(ctx)
			if err != nil {
				last = fmt.Sprintf("%s members: %v", nd.name, err)
				return false
			}
			alive := 0
			for _, m := range ms {
				if m.State == "alive" {
					alive++
				}
			}
			if alive != len(c.nodes) {
				last = fmt.Sprintf("%s sees %d of %d members alive", nd.name, alive, len(c.nodes))
				return false
			}
		}
		return true
	}, func() string { return last })
}

// poll calls cond every interval until it holds, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
