package controller

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"
)

// TestHTTPNodeClientPaths checks where each access mode sends a call: the
// pod IP, or the API server's pod proxy with the API server's credentials.
// (The proxy itself is exercised on kind: the API server refuses to proxy
// to the loopback addresses local pods have.)
func TestHTTPNodeClientPaths(t *testing.T) {
	type seen struct{ path, auth string }
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{r.URL.EscapedPath(), r.Header.Get("Authorization")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Status":"ok","Data":{"Members":[{"Name":"db-0","State":"alive"}]}}`))
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Hostname()
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	portNum := int32(port)

	tests := []struct {
		name   string
		access PodAccess
		cfg    *rest.Config
		target Target
		want   seen
	}{
		{"direct", PodAccessDirect, nil, Target{Namespace: "ns", Pod: "db-0", IP: host, Port: portNum},
			seen{"/cluster/members", ""}},
		{"direct with token", PodAccessDirect, nil, Target{Namespace: "ns", Pod: "db-0", IP: host, Port: portNum, Token: "s3"},
			seen{"/cluster/members", "Bearer s3"}},
		{"proxy", PodAccessProxy, &rest.Config{Host: srv.URL, BearerToken: "kube"}, Target{Namespace: "ns", Pod: "db-0", Port: 8080},
			seen{"/api/v1/namespaces/ns/pods/db-0:8080/proxy/cluster/members", "Bearer kube"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := NewHTTPNodeClient(tt.access, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			members, err := nc.Members(context.Background(), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if len(members) != 1 || members[0].Name != "db-0" || got != tt.want {
				t.Errorf("members %+v, request %+v; want request %+v", members, got, tt.want)
			}
		})
	}

	nc, err := NewHTTPNodeClient(PodAccessDirect, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Leave(context.Background(), Target{Namespace: "ns", Pod: "db-1"}); !errors.Is(err, ErrNoPodIP) {
		t.Errorf("leave without a pod IP: %v, want ErrNoPodIP", err)
	}
	if _, err := NewHTTPNodeClient("sideways", nil); err == nil {
		t.Error("unknown access accepted")
	}
}
