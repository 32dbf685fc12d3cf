package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/crdt"
	"github.com/yzma/yzma/node/store"
)

// GET /watch?prefix=P streams, as Server-Sent Events, every change this
// node applies to a key under P, in the order it applied them (store's
// change feed). Each event's id is a cursor, "<origin>-<position>": sent
// back as Last-Event-ID (or ?since=), the stream resumes right after it,
// losing and repeating nothing, as long as the feed still holds what
// follows. A cursor the feed no longer reaches, or one of another process
// (another pod, or this one before a restart), gets a "reset" event, then
// the current state of every key under P ("state" events), then "synced"
// with the cursor to resume from: a watcher never misses a change
// silently. A watcher that falls behind the feed's window gets the same.
//
// Memory is bounded by the shared window, not per watcher: a slow watcher
// only holds a position in it. One that stops reading is cut after
// watchWriteTimeout (its writes block), and resumes with a reset if the
// window has moved past it. Heartbeats (an id-only event, which also keeps
// the cursor of a watcher whose prefix sees nothing current) keep proxies
// from closing an idle stream.
const (
	watchBatch        = 256
	watchStatePage    = 512
	watchWriteTimeout = 30 * time.Second
)

func (s *server) watch(c echo.Context) error {
	r := c.Request()
	q, err := queryOf(r)
	if err != nil {
		return err
	}
	prefix := []byte(q.Get("prefix"))
	cursor := r.Header.Get("Last-Event-ID")
	if cursor == "" {
		cursor = q.Get("since")
	}
	pos, reset, err := s.parseCursor(cursor)
	if err != nil {
		return err
	}
	w := c.Response()
	rc := http.NewResponseController(w.Writer)
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set(echo.HeaderCacheControl, "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s.metrics.watches.Inc()
	defer s.metrics.watches.Dec()
	sw := &sseWriter{buf: bufio.NewWriter(w), rc: rc, sent: s.metrics.watchEvents}
	if err := sw.flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(s.watchHeartbeat)
	defer heartbeat.Stop()
	ctx := r.Context()
	for {
		if reset != "" {
			s.metrics.watchResets.Inc()
			if pos, err = s.resync(sw, prefix, reset); err != nil {
				return nil // the watcher is gone, or the node closing: the stream ends
			}
			reset = ""
		}
		changes, wake, err := s.node.ChangesSince(pos, watchBatch)
		if errors.Is(err, store.ErrCursorGone) {
			reset = "this watcher fell behind the node's change log"
			continue
		}
		if err != nil {
			return nil
		}
		for i := range changes {
			ch := &changes[i]
			pos = ch.Seq
			if !bytes.HasPrefix(ch.Key, prefix) {
				continue
			}
			ev, kind := watchEvent(ch), "put"
			if ev.Siblings == 0 {
				kind = "delete"
			}
			if err := sw.event(s.cursor(pos), kind, ev); err != nil {
				return nil
			}
		}
		if err := sw.flush(); err != nil {
			return nil
		}
		// Wait for the next change unless more are there already (a ready
		// channel); either way heartbeats keep their pace, so a prefix that
		// sees nothing under a busy feed still gets them.
		if wake == nil {
			wake = alwaysReady
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			if err := sw.heartbeat(s.cursor(pos)); err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}

// alwaysReady is closed: receiving from it never waits.
var alwaysReady = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

// resync sends a reset, the state of every key under prefix and "synced",
// and returns the position to go on from: taken before the listing, so a
// change made meanwhile is sent again after it, never lost. The state
// events carry no id, so a watcher cut during the listing resumes with its
// old cursor and is reset again.
func (s *server) resync(sw *sseWriter, prefix []byte, reason string) (uint64, error) {
	pos := s.node.FeedPosition()
	if err := sw.event("", "reset", api.WatchReset{Reason: reason}); err != nil {
		return 0, err
	}
	var after []byte
	for {
		page, err := s.node.States(prefix, after, watchStatePage)
		if err != nil {
			return 0, err
		}
		for i := range page {
			if err := sw.event("", "state", watchEvent(&page[i])); err != nil {
				return 0, err
			}
		}
		if len(page) < watchStatePage {
			break
		}
		after = page[len(page)-1].Key
	}
	if err := sw.event(s.cursor(pos), "synced", struct{}{}); err != nil {
		return 0, err
	}
	return pos, sw.flush()
}

func watchEvent(ch *store.Change) api.WatchEvent {
	live := ch.Live()
	ev := api.WatchEvent{Key: string(ch.Key), KeyBase64: nonUTF8(ch.Key), Siblings: len(live),
		Context: crdt.EncodeToken(ch.Context())}
	if shown, ok := (&crdt.KeyState{Versions: live}).Shown(); ok {
		ev.Value, ev.Type = shown.Value, shown.Type
	}
	return ev
}

// cursor names position pos of this process's change feed.
func (s *server) cursor(pos uint64) string {
	return s.node.Origin().String() + "-" + strconv.FormatUint(pos, 10)
}

// parseCursor reads a watcher's cursor: empty is "from now"; another
// process's, or a position beyond this one's last, is a reset (the reason
// returned); anything else malformed is a 400.
func (s *server) parseCursor(cursor string) (pos uint64, reset string, err error) {
	if cursor == "" {
		return s.node.FeedPosition(), "", nil
	}
	origin, seq, ok := strings.Cut(cursor, "-")
	n, perr := strconv.ParseUint(seq, 10, 64)
	id, ierr := crdt.ParseNodeID(origin)
	if !ok || perr != nil || ierr != nil {
		return 0, "", httpError(http.StatusBadRequest, "bad cursor %q: want the id of an event this API sent", cursor)
	}
	if id != s.node.Origin() || n > s.node.FeedPosition() {
		return 0, "the cursor is another node process's (another pod, or this one before a restart)", nil
	}
	return n, "", nil
}

// sseWriter writes Server-Sent Events, each write bounded by
// watchWriteTimeout.
type sseWriter struct {
	buf  *bufio.Writer
	rc   *http.ResponseController
	sent interface{ Inc() }
}

func (w *sseWriter) event(id, kind string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if err := w.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if id != "" {
		fmt.Fprintf(w.buf, "id: %s\n", id)
	}
	if _, err := fmt.Fprintf(w.buf, "event: %s\ndata: %s\n\n", kind, b); err != nil {
		return err // bufio keeps a write's error: the id's too
	}
	w.sent.Inc()
	return nil
}

// heartbeat is an event with only an id: not dispatched to the page, but it
// moves the watcher's Last-Event-ID and keeps the connection busy.
func (w *sseWriter) heartbeat(id string) error {
	if err := w.rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	fmt.Fprintf(w.buf, ": heartbeat\nid: %s\n\n", id)
	return w.flush()
}

func (w *sseWriter) flush() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	return w.rc.Flush()
}
