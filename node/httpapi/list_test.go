package httpapi_test

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/httpapi"
)

func TestList(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	for _, k := range []string{"a", "b/1", "b/2", "b/3", "bz", "c"} {
		e.put("/keys/"+url.PathEscape(k), k, "Content-Type", "text/plain")
	}
	e.put("/keys/b%2F2", "two!", "Content-Type", "text/x", api.ContextHeader, "oA") // a sibling
	e.put("/keys/gone", "x")
	e.do(http.MethodDelete, "/keys/gone", nil).wantOK(t, nil)

	entry := func(k string, sibs int) api.KeyEntry {
		return api.KeyEntry{Key: k, Siblings: sibs, Type: "text/plain", Size: len(k)}
	}
	tests := []struct {
		query string
		keys  []api.KeyEntry
		next  string
	}{
		{"", []api.KeyEntry{entry("a", 1), entry("b/1", 1), {Key: "b/2", Siblings: 2, Type: "text/x", Size: 4},
			entry("b/3", 1), entry("bz", 1), entry("c", 1)}, ""},
		{"?limit=2", []api.KeyEntry{entry("a", 1), entry("b/1", 1)}, "b/1"},
		{"?limit=2&after=b%2F1", []api.KeyEntry{{Key: "b/2", Siblings: 2, Type: "text/x", Size: 4}, entry("b/3", 1)}, "b/3"},
		{"?limit=2&after=b/3", []api.KeyEntry{entry("bz", 1), entry("c", 1)}, ""},
		{"?prefix=b/", []api.KeyEntry{entry("b/1", 1), {Key: "b/2", Siblings: 2, Type: "text/x", Size: 4}, entry("b/3", 1)}, ""},
		{"?prefix=b/&after=b/1&limit=1", []api.KeyEntry{{Key: "b/2", Siblings: 2, Type: "text/x", Size: 4}}, "b/2"},
		{"?prefix=b/&after=b/3", []api.KeyEntry{}, ""},
		{"?prefix=zzz", []api.KeyEntry{}, ""},
		{"?limit=1000", []api.KeyEntry{entry("a", 1), entry("b/1", 1), {Key: "b/2", Siblings: 2, Type: "text/x", Size: 4},
			entry("b/3", 1), entry("bz", 1), entry("c", 1)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got api.KeyList
			e.do(http.MethodGet, "/keys"+tt.query, nil).wantOK(t, &got)
			if !reflect.DeepEqual(got.Keys, tt.keys) || got.Next != tt.next || got.NextBase64 != nil {
				t.Fatalf("got %+v next %q, want %+v next %q", got.Keys, got.Next, tt.keys, tt.next)
			}
		})
	}
	if r := e.do(http.MethodGet, "/keys?prefix=zzz", nil); string(r.body) != `{"Status":"ok","Error":"","Data":{"Keys":[]}}` {
		t.Fatalf("empty listing = %s", r.body)
	}
}

func TestListNonUTF8(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.put("/keys/k%FF1", "x")
	e.put("/keys/k%FF2", "y")
	var page api.KeyList
	e.do(http.MethodGet, "/keys?prefix=k%FF&limit=1", nil).wantOK(t, &page)
	if len(page.Keys) != 1 || string(page.Keys[0].KeyBase64) != "k\xff1" || string(page.NextBase64) != "k\xff1" {
		t.Fatalf("page %+v: want exact bytes in KeyBase64 and NextBase64", page)
	}
	// The exact bytes, percent-encoded, continue the listing.
	var page2 api.KeyList
	e.do(http.MethodGet, "/keys?after="+url.QueryEscape(string(page.NextBase64)), nil).wantOK(t, &page2)
	if len(page2.Keys) != 1 || string(page2.Keys[0].KeyBase64) != "k\xff2" || page2.Next != "" || page2.NextBase64 != nil {
		t.Fatalf("second page %+v", page2)
	}
}

func TestListBadRequests(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	for _, q := range []string{"limit=0", "limit=-1", "limit=1001", "limit=abc", "limit=1.5"} {
		e.do(http.MethodGet, "/keys?"+q, nil).wantError(t, http.StatusBadRequest, "want an integer from 1 to 1000")
	}
	e.do(http.MethodGet, "/keys?prefix=%zz", nil).wantError(t, http.StatusBadRequest, "bad query string")
}
