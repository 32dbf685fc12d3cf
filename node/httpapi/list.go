package httpapi

import (
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/api"
)

func (s *server) listKeys(c echo.Context) error {
	q, err := queryOf(c.Request())
	if err != nil {
		return err
	}
	limit := api.DefaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxListLimit {
			return httpError(http.StatusBadRequest, "limit=%q: want an integer from 1 to %d", v, api.MaxListLimit)
		}
		limit = n
	}
	entries, next, err := s.node.List([]byte(q.Get("prefix")), []byte(q.Get("after")), limit)
	if err != nil {
		return storeError(err)
	}
	out := api.KeyList{Keys: make([]api.KeyEntry, len(entries))}
	for i, e := range entries {
		out.Keys[i] = api.KeyEntry{Key: string(e.Key), KeyBase64: nonUTF8(e.Key), Siblings: e.Siblings,
			Type: e.Type, Size: e.Size}
	}
	if next != nil {
		out.Next, out.NextBase64 = string(next), nonUTF8(next)
	}
	return respond(c, http.StatusOK, out)
}

// nonUTF8 returns b when JSON could not carry it exactly as a string.
func nonUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return nil
	}
	return b
}
