// The kubelet's streaming API: what `kubectl exec` and `kubectl
// port-forward` reach through the API server.
//
// The API server proxies POST /exec/<ns>/<pod>/<container>?command=…
// and POST /portForward/<ns>/<pod> to the Node's address and kubelet
// port (the log server's), and the kubelet answers with a protocol
// upgrade. The protocol code is the real kubelet's: the server side of
// k8s.io/cri-streaming (remotecommand.ServeExec, portforward.
// ServePortForward, which a CRI runtime's streaming server uses too) on
// top of k8s.io/streaming's SPDY upgrader; this file only finds the Pod
// and hands it a runtime (exec.go, portforward.go).
//
// Only SPDY reaches this kubelet. kubectl speaks WebSocket to the API
// server (v5.channel.k8s.io for exec, SPDY tunnelled over a WebSocket for
// port-forward), and kube-apiserver 1.37 translates both into a SPDY
// upgrade towards the kubelet unless the Node declares the
// ExtendWebSocketsToKubelet feature in status.declaredFeatures, which
// this Node does not (see pkg/registry/core/pod/rest/subresources.go in
// Kubernetes). Older clients that speak SPDY end to end are proxied as
// they are.
//
// There is no /attach: a container's output goes to its log file and it
// has no standard input to attach to (`kubectl logs -f` shows the output).

package localcluster

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

const (
	// As the kubelet's defaults (streamingConnectionIdleTimeout, the CRI
	// streaming server's stream creation timeout).
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// streamRoutes adds the streaming endpoints, with and without the Pod's
// UID in the path as the kubelet has them, for GET and POST.
func (s *logServer) streamRoutes(mux *http.ServeMux) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{container}", s.exec)
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{uid}/{container}", s.exec)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}", s.portForward)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}/{uid}", s.portForward)
	}
}

// podFor finds the running Pod of the request's path, writing a 404 when
// there is none.
func (s *logServer) podFor(w http.ResponseWriter, r *http.Request) *podRuntime {
	rt := s.k.runtimeFor(r.PathValue("ns"), r.PathValue("pod"))
	if rt == nil || r.PathValue("uid") != "" && string(rt.uid) != r.PathValue("uid") {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return nil
	}
	return rt
}

// exec runs a command in a container: /exec/<ns>/<pod>[/<uid>]/<container>
// with command=… (repeated), input, output, error and tty as kubectl
// sends them.
func (s *logServer) exec(w http.ResponseWriter, r *http.Request) {
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	rt := s.podFor(w, r)
	if rt == nil {
		return
	}
	c, err := rt.execTarget(r.PathValue("container"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	rt.log.Debug("exec", "container", c.spec.Name, "command", cmd, "tty", opts.TTY)
	remotecommand.ServeExec(w, r, &executor{rt: rt, c: c}, rt.key.Name, string(rt.uid), c.spec.Name, cmd,
		opts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// portForward forwards connections to the Pod's ports:
// /portForward/<ns>/<pod>[/<uid>], one data and one error stream per
// forwarded connection, each naming its port.
func (s *logServer) portForward(w http.ResponseWriter, r *http.Request) {
	opts := &portforward.V4Options{}
	if wsstream.IsWebSocketRequest(r) { // ports are only given in the query then
		var err error
		if opts, err = portforward.NewV4Options(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	rt := s.podFor(w, r)
	if rt == nil {
		return
	}
	rt.log.Debug("port-forward", "remote", r.RemoteAddr)
	portforward.ServePortForward(w, r, &forwarder{rt: rt}, rt.key.Name, string(rt.uid), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// connTracker remembers the server's open connections so that close ends
// the upgraded (hijacked) ones too, which http.Server.Close leaves alone.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
}

func trackConns(ln net.Listener) *connTracker {
	return &connTracker{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

func (t *connTracker) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// closeAll closes every connection still open.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // the peer sees the connection end, as it would at a kubelet restart
	}
}

// execTarget is the container of the Pod named name, which must be
// running (as for the kubelet, which execs in a running container only).
func (rt *podRuntime) execTarget(name string) (*container, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	i := slices.IndexFunc(rt.all(), func(c *container) bool { return c.spec.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("container not found (%q)", name)
	}
	c := rt.all()[i]
	if !rt.prepared || c.pid == 0 {
		return nil, fmt.Errorf("container %q is not running", name)
	}
	return c, nil
}
