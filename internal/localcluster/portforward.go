// `kubectl port-forward`: each forwarded connection (one data stream of
// the SPDY connection, see streaming.go) becomes a TCP connection to the
// Pod's own address and the requested port, as a kubelet connects inside
// the Pod's network namespace. A program that listens on 127.0.0.1 only
// is therefore not reachable (it would be on a real node, where that is
// the Pod's loopback); one bound to the Pod's address or to every address
// is. hostNetwork Pods are reached at the node's address.
//
// Half-closes go through: when the client has sent all it will (its side
// of the data stream closed), the Pod's side gets a TCP FIN and the
// answer is still copied back until the Pod closes; when the Pod closes
// first, the stream is closed and whatever the client still sends is
// dropped. The forward also ends when the Pod stops.

package localcluster

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
)

// forwarder connects port-forward streams to one Pod's ports.
type forwarder struct {
	rt *podRuntime
}

var _ portforward.PortForwarder = (*forwarder)(nil)

// PortForward copies between stream and a new connection to the Pod's
// port until both directions are done (see the file's comment).
func (f *forwarder) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(f.rt.ip, strconv.Itoa(int(port))))
	if err != nil {
		return err // written to the error stream: kubectl shows it
	}
	defer func() { _ = conn.Close() }() // both directions are done
	toPod, fromPod := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // the client is done sending; the Pod may still answer
		}
		toPod <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	select {
	case err = <-fromPod: // the Pod closed (or the stream broke): done
	case err = <-toPod:
		if err != nil { // the stream broke: nobody to answer to
			return err
		}
		select {
		case err = <-fromPod:
		case <-f.rt.done:
		}
	case <-f.rt.done:
	}
	return err
}
