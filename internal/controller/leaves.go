package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	yzmav1 "github.com/yzma/yzma/api/v1alpha1"
	"github.com/yzma/yzma/node/api"
)

// leaveTimeout bounds one leave call; the node itself gives up sooner if
// its peers cannot take the hand-off.
const leaveTimeout = 3 * time.Minute

// leaveCall is one POST /cluster/leave in flight or finished.
type leaveCall struct {
	done     bool
	result   api.LeaveResult
	err      error
	duration time.Duration
}

// leaves runs leave calls outside Reconcile, which must not block for the
// length of a hand-off, and wakes the cluster's reconcile when one ends.
// A restarted manager has no calls in flight and simply calls again:
// leave is idempotent.
type leaves struct {
	mu    sync.Mutex
	calls map[types.NamespacedName]*leaveCall // by pod
	wake  chan event.GenericEvent
}

func newLeaves() *leaves {
	return &leaves{calls: map[types.NamespacedName]*leaveCall{}, wake: make(chan event.GenericEvent, 16)}
}

// start calls leave on t in the background unless a call is in flight.
func (l *leaves) start(c *yzmav1.YzmaCluster, nc NodeClient, t Target) {
	pod := types.NamespacedName{Namespace: t.Namespace, Name: t.Pod}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.calls[pod]; ok {
		return
	}
	call := &leaveCall{}
	l.calls[pod] = call
	owner := c.DeepCopy()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		defer cancel()
		began := time.Now()
		res, err := nc.Leave(ctx, t)
		l.mu.Lock()
		call.done, call.result, call.err, call.duration = true, res, err, time.Since(began)
		l.mu.Unlock()
		select { // the reconcile also polls while a call runs
		case l.wake <- event.GenericEvent{Object: owner}:
		default:
		}
	}()
}

// take returns the call on pod: nil if there is none, a copy with done
// false while it runs; a finished call is returned once and forgotten.
func (l *leaves) take(pod types.NamespacedName) *leaveCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	call, ok := l.calls[pod]
	if !ok {
		return nil
	}
	if call.done {
		delete(l.calls, pod)
	}
	cp := *call
	return &cp
}
