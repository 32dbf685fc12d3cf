package httpapi_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yzma/yzma/internal/loadgen"
	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/httpapi"
)

// TestFullQueueAnswers503: past either bound on waiting writes (the
// store's queue, or the writes waiting for one of the API's write slots)
// writes are refused at once with 503 and Retry-After in the envelope; what
// was acknowledged is stored and what was refused is not.
func TestFullQueueAnswers503(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     httpapi.Options
		nodeOpts node.Options
	}{
		{"store queue full", httpapi.Options{}, node.Options{MaxQueuedWrites: 1}},
		{"too many writes pending", httpapi.Options{MaxPendingWrites: 5}, node.Options{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &testEnv{t: t, opts: tt.opts, nodeOpts: tt.nodeOpts, dbPath: filepath.Join(t.TempDir(), "data.db")}
			e.start()
			l := loadgen.Start(e.srv.URL, 200, 20, 100, nil)
			l.Wait()
			if l.Shed.Load() == 0 || l.MissingRetry.Load() != 0 || l.Other.Load() != 0 {
				t.Fatalf("writes: %+v", l.Counts())
			}
			st, err := e.node.Store().Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Keys != l.OK.Load() {
				t.Fatalf("%d keys stored, %d writes acknowledged", st.Keys, l.OK.Load())
			}
			r := e.do(http.MethodPut, "/keys/after", strings.NewReader("x"))
			r.wantOK(t, nil) // and the node takes writes again once the load is gone
		})
	}
}
