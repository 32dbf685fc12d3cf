package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/yzma/yzma/internal/syncbuf"
	"github.com/yzma/yzma/internal/testwait"
	"github.com/yzma/yzma/node/client"
	"github.com/yzma/yzma/node/httpapi"
)

func TestWatch(t *testing.T) {
	c := newCtl(t, httpapi.Options{})
	c.ok("", "put", "w/a", "1")
	c.ok("", "put", "x/b", "2")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncbuf.Buffer
	done := make(chan int)
	go func() {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		done <- execute(ctx, []string{"watch", "--prefix", "w/", "--since", "00000000000000ff-1"}, strings.NewReader(""), &out, &errOut, lookup)
	}()
	testwait.For(t, "the state of w/ is printed", 10*time.Second, 10*time.Millisecond, func() bool {
		return strings.Contains(out.String(), `"synced"`)
	})
	c.ok("", "put", "w/c", "3")
	testwait.For(t, "the change is printed", 10*time.Second, 10*time.Millisecond, func() bool {
		return strings.Count(out.String(), "\n") == 4
	})
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("watch exited %d: %s", code, errOut.String())
	}
	var kinds []string
	for line := range strings.Lines(out.String()) {
		var ev client.WatchEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, ev.Kind+" "+ev.Key+" "+string(ev.Value))
	}
	if got := strings.Join(kinds, "; "); got != "reset  ; state w/a 1; synced  ; put w/c 3" {
		t.Fatalf("watch printed %q", got)
	}
}
