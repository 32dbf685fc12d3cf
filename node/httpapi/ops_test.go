package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/yzma/yzma/node/httpapi"
)

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	e.do(http.MethodGet, "/healthz", nil).wantOK(t, nil)
	e.do(http.MethodGet, "/readyz", nil).wantOK(t, nil)
	e.put("/keys/a%2Fb", "v")
	e.do(http.MethodGet, "/nope", nil)

	r := e.do(http.MethodGet, "/metrics", nil)
	if r.code != http.StatusOK {
		t.Fatalf("/metrics: %d", r.code)
	}
	for _, want := range []string{
		`yzma_http_requests_total{code="200",method="PUT",route="/keys/*"} 1`,
		`yzma_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`yzma_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`yzma_http_request_duration_seconds_count{method="PUT",route="/keys/*"} 1`,
		`yzma_store_keys 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestNoMetricsWithoutGatherer(t *testing.T) {
	e := newEnv(t, httpapi.Options{Registerer: noRegisterer{}})
	e.do(http.MethodGet, "/metrics", nil).wantError(t, http.StatusNotFound, "no such endpoint")
}

func TestCluster(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	tests := []struct {
		name string
		path string
		body string
		code int
		msg  string
	}{
		{"join", "/cluster/join", `{"Peers":["10.0.0.1:7946","node-b:7946"]}`, 501, "without clustering"},
		{"join IPv6", "/cluster/join", `{"Peers":["[::1]:7946"]}`, 501, "without clustering"},
		{"join malformed", "/cluster/join", `{"Peers":[`, 400, "malformed JSON"},
		{"join wrong type", "/cluster/join", `{"Peers":"a:1"}`, 400, "malformed JSON"},
		{"join unknown field", "/cluster/join", `{"Peer":["a:1"]}`, 400, `unknown field "Peer"`},
		{"join trailing data", "/cluster/join", `{"Peers":["a:1"]} x`, 400, "data after the object"},
		{"rejoin: empty body", "/cluster/join", ``, 501, "without clustering"},
		{"rejoin: empty object", "/cluster/join", `{}`, 501, "without clustering"},
		{"rejoin: no peers", "/cluster/join", `{"Peers":[]}`, 501, "without clustering"},
		{"join bad peer", "/cluster/join", `{"Peers":["a:1","nohost"]}`, 400, "Peers[1]"},
		{"join bad port", "/cluster/join", `{"Peers":["a:99999"]}`, 400, "Peers[0]"},
		{"leave", "/cluster/leave", ``, 501, "without clustering"},
		{"leave empty object", "/cluster/leave", `{}`, 501, "without clustering"},
		{"leave malformed", "/cluster/leave", `{`, 400, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(http.MethodPost, tt.path, strings.NewReader(tt.body), "Content-Type", "application/json").
				wantError(t, tt.code, tt.msg)
		})
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	off := newEnv(t, httpapi.Options{})
	on := newEnv(t, httpapi.Options{AuthToken: token})
	off.put("/keys/k", "v")
	on.put("/keys/k", "v", "Authorization", "Bearer "+token)

	tests := []struct {
		name   string
		env    *testEnv
		method string
		path   string
		auth   string
		code   int
	}{
		{"off: no header", off, http.MethodGet, "/keys/k", "", 200},
		{"off: any header", off, http.MethodGet, "/keys/k", "Bearer whatever", 200},
		{"on: get without token", on, http.MethodGet, "/keys/k", "", 401},
		{"on: put without token", on, http.MethodPut, "/keys/k", "", 401},
		{"on: delete without token", on, http.MethodDelete, "/keys/k", "", 401},
		{"on: list without token", on, http.MethodGet, "/keys", "", 401},
		{"on: metrics without token", on, http.MethodGet, "/metrics", "", 401},
		{"on: join without token", on, http.MethodPost, "/cluster/join", "", 401},
		{"on: unknown route without token", on, http.MethodGet, "/nope", "", 401},
		{"on: wrong token", on, http.MethodGet, "/keys/k", "Bearer nope", 401},
		{"on: token prefix", on, http.MethodGet, "/keys/k", "Bearer s3cret", 401},
		{"on: wrong scheme", on, http.MethodGet, "/keys/k", "Basic " + token, 401},
		{"on: no token after scheme", on, http.MethodGet, "/keys/k", "Bearer ", 401},
		{"on: right token", on, http.MethodGet, "/keys/k", "Bearer " + token, 200},
		{"on: scheme case-insensitive", on, http.MethodGet, "/keys/k", "bearer " + token, 200},
		{"on: metrics with token", on, http.MethodGet, "/metrics", "Bearer " + token, 200},
		{"on: healthz open", on, http.MethodGet, "/healthz", "", 200},
		{"on: readyz open", on, http.MethodGet, "/readyz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			r := tt.env.do(tt.method, tt.path, strings.NewReader("new"), hdr...)
			if r.code != tt.code {
				t.Fatalf("status %d, want %d; body %s", r.code, tt.code, r.body)
			}
			if tt.code == 401 {
				r.wantError(t, 401, "token")
				if got := r.header.Get("WWW-Authenticate"); got != "Bearer" {
					t.Fatalf("WWW-Authenticate %q, want Bearer", got)
				}
			}
		})
	}
	if r := on.do(http.MethodGet, "/keys/k?raw=1", nil, "Authorization", "Bearer "+token); string(r.body) != "v" {
		t.Fatalf("unauthorised requests changed the key: %q", r.body)
	}
}

func TestPanicAnswers500(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	router := e.srv.Config.Handler.(interface { // echo's, which the API's handler embeds
		GET(string, echo.HandlerFunc, ...echo.MiddlewareFunc) *echo.Route
	})
	router.GET("/boom", func(echo.Context) error { panic("boom") })
	e.do(http.MethodGet, "/boom", nil).wantError(t, http.StatusInternalServerError, "internal error")
	e.do(http.MethodGet, "/healthz", nil).wantOK(t, nil) // still serving
}
