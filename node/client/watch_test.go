package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/httpapi"
)

// watcher collects a watch's events in the background until stopped.
type watcher struct {
	mu     sync.Mutex
	events []client.WatchEvent
	cursor string
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

func startWatch(t *testing.T, c *client.Client, prefix, since string) *watcher {
	t.Helper()
	wctx, cancel := context.WithCancel(t.Context())
	w := &watcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		cursor, err := c.Watch(wctx, prefix, since, func(ev client.WatchEvent) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.events = append(w.events, ev)
			return nil
		})
		w.mu.Lock()
		w.cursor, w.err = cursor, err
		w.mu.Unlock()
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *watcher) stop() { w.cancel(); <-w.done }

// waitEvents waits for n events and returns them.
func (w *watcher) waitEvents(t *testing.T, n int) []client.WatchEvent {
	t.Helper()
	testwait.For(t, fmt.Sprintf("%d watch events", n), 20*time.Second, 5*time.Millisecond, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.events) >= n
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]client.WatchEvent(nil), w.events...)
}

func describe(evs []client.WatchEvent) string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s %s=%s", ev.Kind, ev.Key, ev.Value))
	}
	return strings.Join(out, "; ")
}

func TestWatch(t *testing.T) {
	c := serve(t, httpapi.Options{})
	w := startWatch(t, c, "w/", "")
	skip := waitWatching(t, c, w, "w/ready")
	for _, kv := range [][2]string{{"w/a", "1"}, {"x/skip", "no"}, {"w/b", "2"}} {
		if _, err := c.Put(ctx(t), kv[0], []byte(kv[1]), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Delete(ctx(t), "w/a"); err != nil {
		t.Fatal(err)
	}
	evs := w.waitEvents(t, skip+3)[skip:]
	if got, want := describe(evs), "put w/a=1; put w/b=2; delete w/a="; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if evs[0].Type != "text/plain" || evs[0].Siblings != 1 || evs[0].Context == "" || evs[2].Siblings != 0 {
		t.Fatalf("event details: %+v", evs)
	}
	// The context of a change supersedes exactly it.
	if _, err := c.Put(ctx(t), "w/b", []byte("3"), "", client.WithContextToken(evs[1].Context)); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.GetSiblings(ctx(t), "w/b"); len(s.Versions) != 1 || string(s.Data) != "3" {
		t.Fatalf("w/b after a write with the event's context: %+v", s)
	}

	// Resuming right after the first event gives what followed, once.
	again := startWatch(t, c, "w/", evs[0].Cursor)
	if got, want := describe(again.waitEvents(t, 3)), "put w/b=2; delete w/a=; put w/b=3"; got != want {
		t.Fatalf("resumed events %q, want %q", got, want)
	}

	// Another process's cursor: a reset, the current state, then synced.
	foreign := startWatch(t, c, "w/", "00000000000000ff-2")
	evs = foreign.waitEvents(t, 4)
	if got := describe(evs); got != "reset =; state w/b=3; state w/ready=ready; synced =" || evs[0].Reason == "" || evs[3].Cursor == "" {
		t.Fatalf("events for a foreign cursor %q (%+v)", got, evs)
	}
	if _, err := c.Put(ctx(t), "w/c", []byte("4"), ""); err != nil {
		t.Fatal(err)
	}
	if evs := foreign.waitEvents(t, 5); describe(evs[4:]) != "put w/c=4" {
		t.Fatalf("after the reset: %q", describe(evs))
	}

	_, err := c.Watch(ctx(t), "", "not a cursor", func(client.WatchEvent) error { return nil })
	wantAPIError(t, err, http.StatusBadRequest, "bad cursor")
}

// waitWatching writes key until w sees it (a watch from "now" starts when
// its request arrives), and returns how many events w has seen.
func waitWatching(t *testing.T, c *client.Client, w *watcher, key string) int {
	t.Helper()
	var seen int
	testwait.For(t, "the watch sees a write", 10*time.Second, 50*time.Millisecond, func() bool {
		if _, err := c.Put(ctx(t), key, []byte("ready"), ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		w.mu.Lock()
		defer w.mu.Unlock()
		seen = len(w.events)
		return seen > 0
	})
	return seen
}

// TestWatchResumesWithoutLossAcrossThreeNodes: 10,000 writes spread over
// three nodes; a watcher of one of them disconnects every few hundred
// events and resumes from its cursor: it sees every change that node
// applied exactly once, in order (positions without a gap or a repeat),
// and the last value of each key.
func TestWatchResumesWithoutLossAcrossThreeNodes(t *testing.T) {
	nodes := serveCluster(t, "a", "b", "c")
	b := nodes[1]
	const writes, keys = 10_000, 300

	var (
		mu     sync.Mutex
		first  uint64 // position of the first change seen
		last   uint64 // and of the last
		values = map[string]string{}
		gapErr error
	)
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() { // watches b, reconnecting every 500 events or so
		defer close(watchDone)
		cursor := ""
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			wctx, cancel := context.WithCancel(t.Context())
			n := 0
			cursor, _ = b.Watch(wctx, "", cursor, func(ev client.WatchEvent) error {
				mu.Lock()
				defer mu.Unlock()
				pos, err := strconv.ParseUint(ev.Cursor[strings.LastIndex(ev.Cursor, "-")+1:], 10, 64)
				switch {
				case ev.Kind != "put" && ev.Kind != "delete":
					err = fmt.Errorf("unexpected %s event (%s)", ev.Kind, ev.Reason)
				case err == nil && first == 0:
					first = pos
				case err == nil && pos != last+1:
					err = fmt.Errorf("position %d after %d", pos, last)
				}
				if err != nil && gapErr == nil {
					gapErr = err
				}
				last = pos
				values[ev.Key] = string(ev.Value)
				if n++; n == 500 {
					cancel() // disconnect; resume from the cursor
				}
				return nil
			})
			cancel()
		}
	}()
	testwait.For(t, "the watch sees a write", 10*time.Second, 50*time.Millisecond, func() bool {
		if _, err := b.Put(ctx(t), "ready", []byte("ready"), ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		return first != 0
	})
	mu.Lock()
	start := last // writes follow this position
	mu.Unlock()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < writes; i += 16 {
				if _, err := nodes[i%3].Put(t.Context(), fmt.Sprint("k", i%keys), []byte(strconv.Itoa(i)), ""); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	testwait.For(t, "the watcher has seen all 10,000 changes", 2*time.Minute, 20*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last >= start+writes || gapErr != nil
	})
	close(stopWatch)
	mu.Lock()
	defer mu.Unlock()
	if gapErr != nil || last != start+writes {
		t.Fatalf("watch: %v; last position %d, want %d", gapErr, last, start+writes)
	}
	for k, v := range values {
		got, err := b.Get(t.Context(), k)
		if err != nil || string(got.Data) != v {
			t.Fatalf("%s: watched %q, b holds %q (%v)", k, v, got.Data, err)
		}
	}
	if len(values) != keys+1 { // and "ready"
		t.Fatalf("watched %d keys, want %d", len(values), keys)
	}
}

// TestStalledWatcherIsReset: a watcher that stops reading while far more
// than the change feed holds is written falls behind it; when it reads
// again it gets a reset and the current state, never a silent gap, and
// the node kept only its bounded window meanwhile.
func TestStalledWatcherIsReset(t *testing.T) {
	n, h := newAPI(t, node.Options{FeedChanges: 20}, httpapi.Options{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(conn, 4096)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
		t.Fatalf("watch answered %q, %v", line, err)
	}
	big := strings.Repeat("v", 256<<10)
	for i := range 100 { // 25 MiB: far beyond the socket buffers, the watcher stalls
		if _, err := c.Put(ctx(t), fmt.Sprint("k", i%10), []byte(fmt.Sprint(i, big)), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := n.ChangesSince(n.FeedPosition()-25, 1); err == nil {
		t.Fatal("the feed holds more than its 20 changes")
	}
	var kinds []string
	deadline := time.Now().Add(30 * time.Second)
	_ = conn.SetReadDeadline(deadline)
	for !slicesContains(kinds, "synced") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (events so far %v)", err, kinds)
		}
		if kind, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
			kinds = append(kinds, kind)
		}
	}
	if !slicesContains(kinds, "reset") || strings.Count(strings.Join(kinds, " "), "state") != 10 {
		t.Fatalf("a stalled watcher got %v; want put events, a reset, the 10 keys' states, synced", kinds)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Heartbeats move the cursor of a watcher whose prefix sees nothing, so
// that it resumes from the present, not from where the feed has moved on,
// also while other keys change all the time.
func TestWatchHeartbeatMovesTheCursor(t *testing.T) {
	c := serve(t, httpapi.Options{WatchHeartbeat: 10 * time.Millisecond})
	if _, err := c.Put(ctx(t), "other", []byte("x"), ""); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	writes := make(chan int)
	go func() { // other keys change while the watch runs
		n := 0
		for ; wctx.Err() == nil && n < 1000; n++ {
			if _, err := c.Put(t.Context(), fmt.Sprint("busy/", n), []byte("x"), ""); err != nil {
				break
			}
		}
		writes <- n
	}()
	cursor, err := c.Watch(wctx, "quiet/", "", func(ev client.WatchEvent) error {
		return fmt.Errorf("unexpected event %+v", ev)
	})
	n := <-writes
	pos, _ := strconv.Atoi(cursor[strings.LastIndex(cursor, "-")+1:])
	if !errors.Is(err, context.DeadlineExceeded) || pos < 1 || pos < n/2 {
		t.Fatalf("Watch = %q, %v after %d other writes; want a cursor past most of them and the deadline", cursor, err, n)
	}
}

// A server shutting down ends its watch streams instead of waiting for
// them.
func TestShutdownEndsWatches(t *testing.T) {
	srv, c := listenAPI(t, httpapi.ServeOptions{})
	w := startWatch(t, c, "", "")
	waitWatching(t, c, w, "k")
	sctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown with a watch open: %v", err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end with the server")
	}
}

// A watch outlives the server's ReadTimeout, which bounds reading a
// request, not a stream.
func TestWatchOutlivesReadTimeout(t *testing.T) {
	_, c := listenAPI(t, httpapi.ServeOptions{ReadTimeout: 100 * time.Millisecond})
	w := startWatch(t, c, "late/", "")
	skip := waitWatching(t, c, w, "late/ready")
	time.Sleep(500 * time.Millisecond) // five read timeouts
	if _, err := c.Put(ctx(t), "late/k", []byte("v"), ""); err != nil {
		t.Fatal(err)
	}
	if evs := w.waitEvents(t, skip+1); describe(evs[skip:skip+1]) != "put late/k=v" {
		t.Fatalf("after the read timeout: %q", describe(evs))
	}
}

// listenAPI serves a node's API with the API's own server (httpapi.Listen,
// as cmd/node does), shut down at cleanup, and returns a client for it.
func listenAPI(t *testing.T, opts httpapi.ServeOptions) (*httpapi.Server, *client.Client) {
	t.Helper()
	_, h := newAPI(t, node.Options{}, httpapi.Options{})
	srv, err := httpapi.Listen("127.0.0.1:0", h, opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	c, err := client.New(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}
