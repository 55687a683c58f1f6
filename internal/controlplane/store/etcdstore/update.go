package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// maxAttempts bounds how many times Update runs fn when other writers keep changing what it read.
const maxAttempts = 32

// opOverhead and requestMargin size a request as etcd counts it: a few bytes of framing per operation,
// and room for the Txn and raft envelope around the operations.
const (
	opOverhead    = 16
	requestMargin = 4096
)

// errConflict marks an attempt whose compares failed: another writer changed what fn read.
var errConflict = errors.New("conflict")

// Update implements store.Store: see the package doc for how it stays serializable.
func (s *Store) Update(fn func(store.Tx) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	select {
	case <-s.turn:
		defer func() { s.turn <- struct{}{} }()
	case <-time.After(s.opts.Timeout):
		return fmt.Errorf("update: waited %v for earlier updates to %s: %w", s.opts.Timeout, s.where, store.ErrUnavailable)
	}
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.attempt(fn)
		if !errors.Is(err, errConflict) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("update: %d attempts in a row conflicted with other writers to %s: %w", attempt, s.where, store.ErrUnavailable)
		}
		time.Sleep(backoff/2 + rand.N(backoff))
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// attempt runs fn once and commits what it wrote; errConflict means run it again.
func (s *Store) attempt(fn func(store.Tx) error) error {
	t := &tx{s: s, write: true, writes: map[string]pending{}, points: map[string]int64{}}
	defer t.end()
	if err := fn(t); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return errConflict // the snapshot was compacted away while fn read: read a newer one
		}
		return err
	}
	t.end()
	if len(t.writes) == 0 {
		return nil
	}
	if err := t.start(); err != nil { // fn wrote without reading: the commit still needs the fence's state
		return err
	}
	if t.overlay != nil {
		// fn ran on a large change committed but not yet applied (its writer may have died): apply it,
		// then run fn again on the keys as they are (large.go).
		if err := s.apply(t.markerRev, t.overlay); err != nil {
			return err
		}
		return errConflict
	}
	ops, large, err := s.writeOps(t)
	if err != nil {
		return err
	}
	if large {
		return s.commitLarge(t)
	}
	ctx, cancel := s.rpc()
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(s.compares(t)...).Then(ops...).Commit()
	if errors.Is(err, rpctypes.ErrLeaseNotFound) { // a cached lease is gone (etcd restored from a backup?)
		s.forgetLeases()
		return errConflict
	}
	if err != nil {
		return s.commitFault(err)
	}
	if !resp.Succeeded {
		return errConflict
	}
	return nil
}

// commitFault is fault for a commit's error: when etcd was lost, the change may have been applied.
func (s *Store) commitFault(err error) error {
	err = s.fault("commit", err)
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w (whether the change was applied is unknown)", err)
	}
	return err
}

// rpc returns the context of one request to etcd: it fails after Options.Timeout.
func (s *Store) rpc() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.Timeout)
}

// writeOps returns the Txn's operations: t's writes in key order, and the fence when any is a delete; or
// large=true when they are more than one Txn may hold (commitLarge). It refuses, with store.ErrTooLarge,
// a transaction over etcd's request size.
func (s *Store) writeOps(t *tx) (ops []clientv3.Op, large bool, err error) {
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops = make([]clientv3.Op, 0, len(keys)+1)
	size, biggest, deletes := 0, "", false
	for _, k := range keys {
		w := t.writes[k]
		if w.del {
			ops = append(ops, clientv3.OpDelete(s.prefix+k))
			deletes = true
		} else if w.expiry > 0 && len(t.writes) < s.opts.MaxTxnOps { // a large change holds no lease
			id, err := s.leaseFor(w.expiry)
			if err != nil {
				return nil, false, err
			}
			ops = append(ops, clientv3.OpPut(s.prefix+k, string(w.value), clientv3.WithLease(id)))
		} else {
			ops = append(ops, clientv3.OpPut(s.prefix+k, string(w.value)))
		}
		n := len(s.prefix) + len(k) + len(w.value) + opOverhead
		if biggest == "" || len(w.value) > len(t.writes[biggest].value) {
			biggest = k
		}
		size += n
	}
	if deletes {
		ops = append(ops, clientv3.OpPut(s.fence, ""))
	}
	if limit := s.opts.MaxRequestBytes - requestMargin; size > limit {
		return nil, false, fmt.Errorf("update writes %d bytes in one transaction (%d keys, the largest %q with %d bytes), more than etcd's request limit of %d bytes (--max-request-bytes): %w",
			size, len(keys), biggest, len(t.writes[biggest].value), limit, store.ErrTooLarge)
	}
	return ops, len(ops) > s.opts.MaxTxnOps, nil
}

// compares returns the Txn's conditions: nothing t read has changed since t.rev, and no large change is
// pending (the fence is empty, or still absent: large.go). When they would be more than etcd allows in one
// Txn, the reads' compares collapse into one range compare over everything read, which the fence completes
// (a deleted key no longer has a revision to compare).
func (s *Store) compares(t *tx) []clientv3.Cmp {
	noLarge := clientv3.Compare(clientv3.Version(s.fence), "=", 0)
	if t.fenced0 {
		noLarge = clientv3.Compare(clientv3.Value(s.fence), "=", "")
	}
	return append(s.readCompares(t), noLarge)
}

// readCompares returns the conditions that nothing t read has changed since t.rev.
func (s *Store) readCompares(t *tx) []clientv3.Cmp {
	after := t.rev + 1
	var cmps []clientv3.Cmp
	for k, rev := range t.points {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
	}
	for _, sp := range t.spans {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(sp.lo), "<", after).WithRange(sp.hi))
	}
	fenced := t.fenced
	if len(cmps)+2 > s.opts.MaxTxnOps { // room for the fence's compares
		lo, hi := s.prefix+"\xff", s.prefix
		for k := range t.points {
			lo, hi = min(lo, k), max(hi, k+"\x00")
		}
		for _, sp := range t.spans {
			lo, hi = min(lo, sp.lo), max(hi, sp.hi)
		}
		cmps = []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(lo), "<", after).WithRange(hi)}
		fenced = true
	}
	if fenced {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.fence), "<", after))
	}
	return cmps
}

// fault turns an etcd client error into the store's: store.ErrUnavailable when etcd cannot serve the
// request (unreachable, no leader or quorum, out of space, credentials refused: then ErrAuth too),
// store.ErrTooLarge when it
// refuses the request's size, naming the cause. The error text never holds the password.
func (s *Store) fault(op string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%s at %s: %w", op, s.where, err) // still errors.Is ErrCompacted: Update reruns fn
	case errors.Is(err, rpctypes.ErrRequestTooLarge), errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%s: %s refused the request: %v: %w", op, s.where, err, store.ErrTooLarge)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%s: %s is out of space (its --quota-backend-bytes is used up; compact and defragment it, then disarm the NOSPACE alarm): %w",
			op, s.where, store.ErrUnavailable)
	case status.Code(err) == codes.ResourceExhausted: // gRPC's own message size limit, above etcd's
		return fmt.Errorf("%s: %s refused the request: %v: %w", op, s.where, err, store.ErrTooLarge)
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		return fmt.Errorf("%s: %s did not answer within %v (unreachable, or no quorum): %w", op, s.where, s.opts.Timeout, store.ErrUnavailable)
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrInvalidAuthToken),
		errors.Is(err, rpctypes.ErrPermissionDenied), errors.Is(err, rpctypes.ErrUserEmpty),
		status.Code(err) == codes.Unauthenticated, status.Code(err) == codes.PermissionDenied:
		return fmt.Errorf("%s: %s refused user %q: %v: %w (%w)", op, s.where, s.opts.Username, rpctypes.ErrorDesc(err), ErrAuth, store.ErrUnavailable)
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail), errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrLeaderChanged):
		return fmt.Errorf("%s: %s: %v (no leader, or no quorum): %w", op, s.where, rpctypes.ErrorDesc(err), store.ErrUnavailable)
	case errors.Is(err, context.Canceled), status.Code(err) == codes.Canceled:
		return fmt.Errorf("%s at %s: %w", op, s.where, store.ErrClosed)
	default:
		return fmt.Errorf("%s: %s: %v: %w", op, s.where, rpctypes.ErrorDesc(err), store.ErrUnavailable)
	}
}
