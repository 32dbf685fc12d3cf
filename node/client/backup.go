package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"

	"github.com/yzma/yzma/node/api"
)

// ErrBadBackup: a backup did not arrive whole, or a file is not one.
var ErrBadBackup = errors.New("bad backup")

// BackupInfo describes a backup as fetched (Backup) or checked
// (CheckBackup).
type BackupInfo struct {
	Size   int64  // bytes
	SHA256 string // hex: the checksum the backup ends with
	Keys   int    // key states (from the node's header; 0 from CheckBackup)
	Node   string // the ID of the node it was read from (from the node's header)
}

// Backup streams a point-in-time backup of the node's data to w (GET
// /backup) and checks that it arrived whole: the size the node announced,
// and the checksum both announced and ending the backup. On an error, what
// was written to w is not a backup.
func (c *Client) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/backup"})
	if err != nil {
		return BackupInfo{}, err
	}
	defer resp.Body.Close()
	sw := newSumWriter()
	n, err := io.Copy(io.MultiWriter(w, sw), resp.Body)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("client: read backup: %w", err)
	}
	info := BackupInfo{Size: n, SHA256: sw.sum(), Node: resp.Header.Get(api.BackupNodeHeader)}
	info.Keys, _ = strconv.Atoi(resp.Header.Get(api.BackupKeysHeader))
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return info, fmt.Errorf("%w: %d bytes of %d", ErrBadBackup, n, resp.ContentLength)
	}
	if want := resp.Header.Get(api.BackupSHA256Header); !sw.intact() || info.SHA256 != want {
		return info, fmt.Errorf("%w: checksum mismatch (announced %s)", ErrBadBackup, want)
	}
	return info, nil
}

// CheckBackup reads a backup and checks it ends with the checksum of what
// precedes it.
func CheckBackup(r io.Reader) (BackupInfo, error) {
	sw := newSumWriter()
	n, err := io.Copy(sw, r)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("read backup: %w", err)
	}
	info := BackupInfo{Size: n, SHA256: sw.sum()}
	if !sw.intact() {
		return info, fmt.Errorf("%w: checksum mismatch (truncated or damaged)", ErrBadBackup)
	}
	return info, nil
}

// Restore uploads a backup (from Backup) into the node (POST /restore),
// which must hold nothing yet: an *APIError with status 409 otherwise.
// size is the backup's length, or -1 when not known.
func (c *Client) Restore(ctx context.Context, r io.Reader, size int64) (api.Restore, error) {
	var res api.Restore
	h := http.Header{"Content-Type": {api.BackupContentType}}
	req := request{method: http.MethodPost, path: "/restore", body: r, headers: h, length: size}
	_, err := c.call(ctx, req, &res)
	return res, err
}

// sumWriter hashes all it is given but the last sha256.Size bytes, which
// it keeps: a backup's checksum.
type sumWriter struct {
	h    hash.Hash
	tail []byte
}

func newSumWriter() *sumWriter { return &sumWriter{h: sha256.New()} }

func (s *sumWriter) Write(p []byte) (int, error) {
	all := append(s.tail, p...)
	if cut := len(all) - sha256.Size; cut > 0 {
		s.h.Write(all[:cut])
		all = all[cut:]
	}
	s.tail = bytes.Clone(all)
	return len(p), nil
}

// intact reports whether the kept bytes are the checksum of the others.
func (s *sumWriter) intact() bool {
	return len(s.tail) == sha256.Size && bytes.Equal(s.h.Sum(nil), s.tail)
}

// sum is the kept checksum in hex.
func (s *sumWriter) sum() string { return hex.EncodeToString(s.tail) }
