package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/httpapi"
)

// TestBackupAndRestore: GET /backup answers the backup with its size and
// checksum in headers; POST /restore of it into an empty node gives the
// same data, and refuses a node that holds some, a damaged backup and one
// over the limit, each with a clear error and nothing changed.
func TestBackupAndRestore(t *testing.T) {
	src := newEnv(t, httpapi.Options{})
	for i := range 20 {
		src.put(fmt.Sprintf("/keys/k%02d", i), fmt.Sprint("v", i))
	}
	src.do(http.MethodDelete, "/keys/k03", nil).wantOK(t, nil)

	r := src.do(http.MethodGet, "/backup", nil)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != api.BackupContentType {
		t.Fatalf("GET /backup: %d %q %s", r.code, r.header.Get("Content-Type"), r.body)
	}
	sum := sha256.Sum256(r.body[:len(r.body)-sha256.Size])
	if got := r.header.Get(api.BackupSHA256Header); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("checksum header %q, want %x", got, sum)
	}
	if got := r.header.Get("Content-Length"); got != strconv.Itoa(len(r.body)) {
		t.Fatalf("Content-Length %q for %d bytes", got, len(r.body))
	}
	if got := r.header.Get(api.BackupNodeHeader); got != src.node.ID().String() {
		t.Fatalf("node header %q, want %s", got, src.node.ID())
	}
	if got := r.header.Get(api.BackupKeysHeader); got != "19" {
		t.Fatalf("keys header %q, want 19", got)
	}
	if got := r.header.Get("Content-Disposition"); !strings.Contains(got, ".yzb") {
		t.Fatalf("Content-Disposition %q", got)
	}
	backup := r.body

	dst := newEnv(t, httpapi.Options{MaxRestoreBytes: int64(len(backup))})
	var res api.Restore
	dst.do(http.MethodPost, "/restore", bytes.NewReader(backup)).wantOK(t, &res)
	if res.Keys != 19 || res.Size != int64(len(backup)) || res.SHA256 != hex.EncodeToString(sum[:]) ||
		res.From != src.node.ID().String() || res.Node != dst.node.ID().String() || res.Origin != dst.node.Origin().String() {
		t.Fatalf("restore answered %+v", res)
	}
	if a, b := digest(t, src), digest(t, dst); a != b {
		t.Fatalf("digests %s and %s differ", a, b)
	}
	if got := dst.do(http.MethodGet, "/keys/k07", nil); !bytes.Contains(got.body, []byte(`"djc="`)) {
		t.Fatalf("k07 after restore: %s", got.body)
	}

	flipped := bytes.Clone(backup)
	flipped[len(flipped)/2] ^= 1
	for _, tt := range []struct {
		name string
		env  *testEnv
		body []byte
		code int
		msg  string
	}{
		{"into a node that holds data", src, backup, http.StatusConflict, "restore needs an empty node"},
		{"a damaged backup", newEnv(t, httpapi.Options{}), flipped, http.StatusBadRequest, "checksum mismatch"},
		{"not a backup", newEnv(t, httpapi.Options{}), []byte(`{"Status":"ok"}`), http.StatusBadRequest, "malformed backup"},
		{"over the limit", newEnv(t, httpapi.Options{MaxRestoreBytes: int64(len(backup) - 1)}), backup, http.StatusRequestEntityTooLarge, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := digest(t, tt.env)
			tt.env.do(http.MethodPost, "/restore", bytes.NewReader(tt.body)).wantError(t, tt.code, tt.msg)
			if digest(t, tt.env) != before {
				t.Fatal("a refused restore changed the data")
			}
		})
	}
}

// TestRestoreNeedsAWriteToken: a read-only token may take a backup (it
// may read everything anyway) but not restore one.
func TestRestoreNeedsAWriteToken(t *testing.T) {
	e := newEnv(t, httpapi.Options{Auth: httpapi.Auth{Tokens: tokens(t, "rw admin\nro reader\n")}})
	r := e.do(http.MethodGet, "/backup", nil, "Authorization", "Bearer reader")
	if r.code != http.StatusOK {
		t.Fatalf("backup with a read-only token: %d %s", r.code, r.body)
	}
	e.do(http.MethodPost, "/restore", bytes.NewReader(r.body), "Authorization", "Bearer reader").
		wantError(t, http.StatusForbidden, "read-only token")
	e.do(http.MethodGet, "/backup", nil).wantError(t, http.StatusUnauthorized, "")
}

func digest(t *testing.T, e *testEnv) string {
	t.Helper()
	d, err := e.node.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
