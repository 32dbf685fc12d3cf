package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/yzma/yzma/node/client"
)

// role is what a client does.
type role int

const (
	writer       role = iota // PUT a unique value to a fresh or a shared key
	deleter                  // plain DELETE of a shared key
	tokenWriter              // read a shared key, PUT with the read's token
	tokenDeleter             // read a shared key, DELETE with the read's token
	hotWriter                // PUT to a few hot keys, from every node at once
)

func (r role) String() string {
	return [...]string{"writer", "deleter", "token-writer", "token-deleter", "hot-writer"}[r]
}

// Workload shape.
const (
	sharedKeys      = 24
	hotKeys         = 3
	opTimeout       = 3 * time.Second
	maxOpsPerClient = 50_000                // a bound, far above what a run reaches
	maxPause        = 4 * time.Millisecond  // between two operations of a client
	backoff         = 25 * time.Millisecond // more after an error other than 404
)

// workload is the clients of one run.
type workload struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	clients []*testClient
}

type testClient struct {
	id   int
	role role
	node int
	cl   *client.Client
	hc   *http.Client
	rng  *rand.Rand
	ops  []Op
}

// startWorkload starts the clients: per role a few, spread over the nodes.
func startWorkload(c *testCluster, seed uint64) *workload {
	n := len(c.nodes)
	half := max(1, n/2)
	w := &workload{stop: make(chan struct{})}
	for _, rc := range []struct {
		role  role
		count int
	}{{writer, n}, {deleter, half}, {tokenWriter, n}, {tokenDeleter, half}, {hotWriter, n}} {
		for i := range rc.count {
			id := len(w.clients)
			node := (i + int(rc.role)) % n
			hc := &http.Client{Timeout: opTimeout, Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
				MaxIdleConnsPerHost: 1,
			}}
			cl, err := client.New("http://"+c.nodes[node].apiAddr, client.WithHTTPClient(hc))
			if err != nil {
				panic(err) // a fixed, valid URL
			}
			w.clients = append(w.clients, &testClient{id: id, role: rc.role, node: node, cl: cl, hc: hc,
				rng: rand.New(rand.NewPCG(seed, uint64(id)))})
		}
	}
	for _, tc := range w.clients {
		w.wg.Go(func() { tc.run(w.stop) })
	}
	return w
}

// finish stops the clients (each finishes its operation in flight) and
// returns every operation.
func (w *workload) finish() []Op {
	close(w.stop)
	w.wg.Wait()
	var ops []Op
	for _, tc := range w.clients {
		tc.hc.CloseIdleConnections()
		ops = append(ops, tc.ops...)
	}
	return ops
}

func (tc *testClient) run(stop <-chan struct{}) {
	for seq := 0; seq < maxOpsPerClient; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		value := fmt.Sprintf("w%d-%d", tc.id, seq)
		shared := fmt.Sprint("s/", tc.rng.IntN(sharedKeys))
		switch tc.role {
		case writer:
			key := shared
			if tc.rng.IntN(2) == 0 {
				key = fmt.Sprintf("u/%d/%d", tc.id, seq)
			}
			tc.put(key, value, nil)
		case deleter:
			tc.delete(shared, nil)
		case tokenWriter:
			tc.readThen(shared, func(saw *read) { tc.put(shared, value, saw) })
		case tokenDeleter:
			tc.readThen(shared, func(saw *read) {
				if saw != nil { // nothing to delete otherwise
					tc.delete(shared, saw)
				}
			})
		case hotWriter:
			key := fmt.Sprint("h/", tc.rng.IntN(hotKeys))
			if tc.rng.IntN(4) == 0 {
				tc.readThen(key, func(saw *read) { tc.put(key, value, saw) })
			} else {
				tc.put(key, value, nil)
			}
		}
		pause := time.Duration(tc.rng.Int64N(int64(maxPause)))
		if n := len(tc.ops); n > 0 && tc.ops[n-1].Outcome != OK && tc.ops[n-1].Err != "" && !strings.Contains(tc.ops[n-1].Err, "not found") {
			pause += backoff // the node is down, busy or catching up
		}
		time.Sleep(pause) // pacing, not synchronisation
	}
}

// read is what a ?siblings=1 read returned: its token and every value.
type read struct {
	token  string
	values []string
}

// readThen reads key with its siblings and calls then with what it saw
// (nil when the key is absent); a failed read is no operation at all.
func (tc *testClient) readThen(key string, then func(*read)) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	sib, err := tc.cl.GetSiblings(ctx, key)
	cancel()
	switch {
	case errors.Is(err, client.ErrNotFound):
		then(nil)
	case err != nil:
	case sib.Context == "":
		then(nil)
	default:
		r := &read{token: sib.Context}
		for _, v := range sib.Versions {
			r.values = append(r.values, string(v.Data))
		}
		slices.Sort(r.values)
		then(r)
	}
}

func (tc *testClient) put(key, value string, saw *read) {
	tc.record(Put, key, value, saw, func(ctx context.Context, opts []client.WriteOption) error {
		_, err := tc.cl.Put(ctx, key, []byte(value), "text/plain", opts...)
		return err
	})
}

func (tc *testClient) delete(key string, saw *read) {
	tc.record(Delete, key, "", saw, func(ctx context.Context, opts []client.WriteOption) error {
		return tc.cl.Delete(ctx, key, opts...)
	})
}

// record runs one write or delete (with saw's token, if any) and records it.
func (tc *testClient) record(kind Kind, key, value string, saw *read, do func(context.Context, []client.WriteOption) error) {
	op := Op{Client: tc.id, Node: tc.node, Kind: kind, Key: key, Value: value}
	var opts []client.WriteOption
	if saw != nil {
		op.Token, op.Saw = true, saw.values
		opts = append(opts, client.WithContextToken(saw.token))
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	op.Start = time.Now()
	err := do(ctx, opts)
	op.End = time.Now()
	op.Outcome = classify(err)
	if err != nil {
		op.Err = err.Error()
	}
	tc.ops = append(tc.ops, op)
}

// classify tells what an error says about the operation: a 4xx or 503
// answer and a refused connection mean it was not applied; a timeout, a
// broken connection or another 5xx leave it unknown.
func classify(err error) Outcome {
	if err == nil {
		return OK
	}
	if errors.Is(err, client.ErrNotFound) || errors.Is(err, syscall.ECONNREFUSED) {
		return Failed
	}
	if apiErr, ok := errors.AsType[*client.APIError](err); ok &&
		(apiErr.StatusCode/100 == 4 || apiErr.StatusCode == http.StatusServiceUnavailable) {
		return Failed
	}
	return Unknown
}
