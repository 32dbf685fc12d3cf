package localcluster

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// logServer is the part of the kubelet API that `kubectl logs`, `kubectl
// exec` and `kubectl port-forward` need: the API server proxies GET
// /containerLogs/<ns>/<pod>/<container> (and the streaming requests, see
// streaming.go) to the Node's address and kubelet port, over TLS both ends
// verify (kubeletpki.go).
type logServer struct {
	k   *kubelet
	ln  *connTracker
	srv *http.Server
}

func listenLogs(k *kubelet, p *kubeletPKI, log *slog.Logger) (*logServer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP, "0"))
	if err != nil {
		return nil, err
	}
	s := &logServer{k: k, ln: trackConns(ln)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.containerLogs)
	s.streamRoutes(mux) // exec and port-forward (streaming.go)
	s.srv = &http.Server{
		Handler:           mux,
		TLSConfig:         p.serverConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.srv.ServeTLS(s.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("kubelet log server stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *logServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *logServer) close() {
	_ = s.srv.Close()
	s.ln.closeAll() // upgraded connections, which Close leaves open
}

// containerLogs serves a container's log file with the query parameters
// kubectl uses: follow, tailLines, limitBytes (previous and timestamps
// are ignored: restarts append to the same file).
func (s *logServer) containerLogs(w http.ResponseWriter, r *http.Request) {
	rt := s.k.runtimeFor(r.PathValue("ns"), r.PathValue("pod"))
	if rt == nil {
		http.Error(w, "pod not running on this node", http.StatusNotFound)
		return
	}
	var path string
	for _, c := range rt.all() {
		if c.spec.Name == r.PathValue("container") {
			path = c.logPath
		}
	}
	if path == "" {
		http.Error(w, "no such container", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		f, err = os.Open(os.DevNull)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer func() { _ = f.Close() }() // only read
	var out io.Writer = w
	if lb, err := strconv.ParseInt(q.Get("limitBytes"), 10, 64); err == nil && lb > 0 {
		out = &limitWriter{w: w, n: lb}
	}
	w.Header().Set("Content-Type", "text/plain")
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 {
		if err := seekTail(f, n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	flusher, _ := w.(http.Flusher)
	for {
		if _, err := io.Copy(out, f); err != nil {
			return
		}
		if lw, ok := out.(*limitWriter); ok && lw.n <= 0 {
			return
		}
		if q.Get("follow") != "true" && q.Get("follow") != "1" {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-rt.done:
			_, _ = io.Copy(out, f)
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	_, err = f.Seek(int64(tailOffset(data, n)), io.SeekStart)
	return err
}

// tailOffset is where the last n lines of data start.
func tailOffset(data []byte, n int) int {
	end := len(data)
	if n == 0 {
		return end
	}
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	for range n {
		j := bytes.LastIndexByte(data[:end], '\n')
		if j < 0 {
			return 0
		}
		end = j
	}
	return end + 1
}

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.ErrShortWrite
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}
