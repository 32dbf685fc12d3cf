package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node"
	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/store"
)

// restoreIdle is how long a restore's upload may stall: the server's
// ReadTimeout, meant for ordinary bodies, does not bound it; this does.
const restoreIdle = 30 * time.Second

// backup answers GET /backup: the node's data at one instant, spooled
// first (store.Backup) so that its size and checksum are headers and a
// slow client holds nothing but its own connection.
func (s *server) backup(c echo.Context) error {
	b, err := s.node.Backup(c.Request().Context())
	switch {
	case errors.Is(err, store.ErrBackupRunning):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: "a backup is already running on this node: retry later", Internal: err}
	case errors.Is(err, node.ErrBackupIncomplete):
		return &echo.HTTPError{Code: http.StatusServiceUnavailable, Message: err.Error() + ": retry later", Internal: err}
	}
	if err != nil {
		return storeError(err)
	}
	defer b.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, api.BackupContentType)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(b.Size, 10))
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", backupFileName(b.BackupInfo)))
	h.Set(api.BackupSHA256Header, b.Sum())
	h.Set(api.BackupKeysHeader, strconv.Itoa(b.Keys))
	h.Set(api.BackupNodeHeader, b.NodeID.String())
	c.Response().WriteHeader(http.StatusOK)
	if _, err := b.WriteTo(c.Response()); err != nil {
		s.log.Warn("backup not fully sent", "error", err)
	}
	return nil
}

// backupFileName is the name a browser or curl -OJ saves a backup as.
func backupFileName(b store.BackupInfo) string {
	return fmt.Sprintf("yzma-%s-%s.yzb", b.NodeID, b.Time.Format("20060102T150405Z"))
}

// restore answers POST /restore: the body is a backup (GET /backup),
// merged into this node if it holds nothing yet (409 otherwise). The
// upload may take as long as it needs while bytes keep coming.
func (s *server) restore(c echo.Context) error {
	r := c.Request()
	if r.ContentLength > s.maxRestore {
		return httpError(http.StatusRequestEntityTooLarge, "backup larger than %d bytes", s.maxRestore)
	}
	body := &idleReader{r: r.Body, rc: http.NewResponseController(c.Response().Writer)}
	info, err := s.node.Restore(r.Context(), body, s.maxRestore)
	switch {
	case errors.Is(err, store.ErrNotEmpty):
		return httpError(http.StatusConflict, "%v", err)
	case errors.Is(err, store.ErrBackupTooLarge):
		return httpError(http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, store.ErrBadBackup):
		return httpError(http.StatusBadRequest, "%v", err)
	case err != nil:
		return storeError(err)
	}
	s.log.Info("restored a backup", "keys", info.Keys, "bytes", info.Size, "sha256", info.Sum(), "from", info.NodeID.String())
	return respond(c, http.StatusOK, api.Restore{Keys: info.Keys, Size: info.Size, SHA256: info.Sum(),
		From: info.NodeID.String(), Time: info.Time, Node: s.node.ID().String(), Origin: s.node.Origin().String(), VersionVector: vvJSON(info.VV)})
}

// idleReader moves the connection's read deadline along as the body
// arrives: it bounds a stall, not the whole upload.
type idleReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if err := ir.rc.SetReadDeadline(time.Now().Add(restoreIdle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return ir.r.Read(p)
}
