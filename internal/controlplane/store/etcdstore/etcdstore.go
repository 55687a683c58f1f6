// Package etcdstore is the shared store.Store: moat's control-plane state in an etcd cluster (etcd 3.4 or
// later), so that a fleet of gateways works on one state.
//
// Every store key k lives at the etcd key Prefix+k; nothing else under Prefix is moat's. The etcd key Prefix
// itself (the empty store key, which Put refuses) is the deletion fence: every transaction that deletes puts
// it (empty; a large change's marker is its value while the change is applied: large.go), so that a transaction that listed keys can tell that one of them was deleted after it read (etcd
// cannot compare on a key that is gone). It is never listed nor watched; keeping it under the prefix means an
// etcd role granted the prefix covers all of moat's keys. Two stores on one etcd must use prefixes neither of
// which starts with the other.
//
// Update is an optimistic, serializable transaction. fn reads at one etcd revision R (fixed by reading the
// fence, before fn's first read) and its writes are buffered, visible to its own later reads. The commit is one etcd Txn that applies
// the writes only if nothing fn read changed after R: a key fn read by Get keeps the mod revision it had
// (0: still absent); no key in a range that List or Range scanned was created or changed after R (a range
// compare), and no delete committed after R (the fence) when that range held keys. When the Txn's compares
// fail, another writer got there first: Update runs fn again on a fresh snapshot, a bounded number of times
// with jittered backoff. Within one process Updates take turns, so only other processes cause reruns.
//
// Limits: etcd refuses a request bigger than its --max-request-bytes (1.5 MiB by default) and a Txn with
// more than --max-txn-ops operations or compares (128 by default). Put refuses a key and value that cannot
// fit in one request, and Update refuses, before sending anything, a transaction whose writes exceed the
// request size: both with an error wrapping store.ErrTooLarge that names the key or size and the limit. A
// transaction of more writes than one Txn takes commits as a large change (large.go): the fence holds its
// writes until they are applied, and every reader sees it whole from its commit on. When fn
// read so many keys that their compares would exceed max-txn-ops, they collapse into one range compare
// over everything read (plus the fence): still serializable, at the price of reruns caused by writes that
// fn did not actually read.
//
// Faults: every request to etcd, and an Update's wait for its turn, is bounded by Options.Timeout; an etcd that
// cannot be reached, has no leader or no quorum, or refuses writes (space quota) gives an error wrapping
// store.ErrUnavailable that names the endpoints and the cause. ViewStale (store.StaleViewer) still reads
// without a quorum, from the copy of whichever member answers. A reverse Range on an etcd 3.4 server reads
// the whole range on the server before it returns the first keys (3.4 sorts before it limits).
package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/redact"
)

// Defaults of Options.
const (
	DefaultPrefix          = "/moat/"
	DefaultTimeout         = 3 * time.Second
	DefaultMaxRequestBytes = 1536 * 1024 // etcd's default --max-request-bytes
	DefaultMaxTxnOps       = 128         // etcd's default --max-txn-ops
)

// Options configure a Store. Only Endpoints is required.
type Options struct {
	// Endpoints are etcd's client URLs ("http://h1:2379") or host:port pairs.
	Endpoints []string
	// Prefix is prepended to every store key; "" means DefaultPrefix. A "/" is appended if it lacks one.
	Prefix string
	// CACert, Cert and Key are PEM files, named as etcdctl's --cacert, --cert and --key: the CA that signed
	// etcd's server certificates (TLS is used when any of the three is set) and a client certificate.
	CACert, Cert, Key string
	// Username and Password authenticate to etcd when Username is set. The password appears in no error.
	Username, Password string
	// Timeout bounds each request to etcd (0: DefaultTimeout), so a View or Update fails that long after
	// etcd stops answering; an Update also waits at most that long for the earlier Updates of this process.
	Timeout time.Duration
	// MaxRequestBytes and MaxTxnOps are the cluster's --max-request-bytes and --max-txn-ops (0: etcd's
	// defaults). Set them only when the cluster was started with other values.
	MaxRequestBytes int
	MaxTxnOps       int
}

// Store is a store.Store and store.Watcher on etcd. It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string // ends with "/"
	fence  string
	opts   Options
	shown  []string // the endpoints, any password in them masked
	where  string   // "etcd at <endpoints>", for errors

	turn chan struct{} // holds one token: the Update whose turn it is takes it

	leaseMu sync.Mutex
	leases  leases // lease.go

	mu     sync.RWMutex // read-held by each running transaction; Close write-holds it
	closed bool
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Watcher     = (*Store)(nil)
	_ store.StaleViewer = (*Store)(nil)
)

// ErrAuth is wrapped, together with store.ErrUnavailable, by the errors of requests etcd refused for the
// credentials: an unknown user, a wrong password, or a user not granted the prefix. The error names the
// user and the endpoints, never the password. Retrying does not help, unlike an outage.
var ErrAuth = errors.New("etcd refused the user (wrong user or password, or the prefix not granted)")

// Open connects to etcd and checks, within Options.Timeout, that it answers a linearizable read under the
// prefix (so a wrong endpoint, certificate or password is reported here). The error wraps
// store.ErrUnavailable when etcd cannot be reached or has no quorum, and the caller may retry Open; when
// it also wraps ErrAuth, etcd answered and refused the credentials, so retrying is pointless.
func Open(opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd store: no endpoints given")
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.MaxTxnOps <= 0 {
		opts.MaxTxnOps = DefaultMaxTxnOps
	}
	shown := make([]string, len(opts.Endpoints)) // for messages and Endpoints
	for i, e := range opts.Endpoints {
		shown[i] = redact.Secret(redact.KindURL, e) // an endpoint may carry user:password@
	}
	where := "etcd at " + strings.Join(shown, ",")
	cfg := clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.Timeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		// Requests up to the server's limit plus the Txn framing; Update checks the limit itself first.
		MaxCallSendMsgSize: opts.MaxRequestBytes + 64*1024,
		Username:           opts.Username,
		Password:           opts.Password,
		Logger:             zap.NewNop(),
	}
	if opts.CACert != "" || opts.Cert != "" || opts.Key != "" {
		info := transport.TLSInfo{TrustedCAFile: opts.CACert, CertFile: opts.Cert, KeyFile: opts.Key}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd store: TLS (--cacert %q, --cert %q, --key %q): %w", opts.CACert, opts.Cert, opts.Key, err)
		}
		cfg.TLS = tlsCfg
	}
	s := &Store{
		prefix: opts.Prefix,
		fence:  opts.Prefix,
		opts:   opts,
		shown:  shown,
		where:  where,
		turn:   make(chan struct{}, 1),
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, s.fault("connect", err) // clientv3.New authenticates when a user is set
	}
	s.cli = cli
	s.turn <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	if _, err := cli.Get(ctx, s.fence, clientv3.WithCountOnly()); err != nil {
		_ = cli.Close()
		return nil, s.fault("open", err)
	}
	return s, nil
}

// Prefix returns the etcd key prefix of the store's keys (ending with "/").
func (s *Store) Prefix() string { return s.prefix }

// Endpoints returns the etcd endpoints the store was opened with, as messages show them (a password in an
// endpoint URL masked).
func (s *Store) Endpoints() []string { return append([]string(nil), s.shown...) }

// begin registers a transaction; the caller must call s.mu.RUnlock when it ends.
func (s *Store) begin() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("state store %s: %w", s.where, store.ErrClosed)
	}
	return nil
}

// View implements store.Store: fn reads at the revision of its first read, which sees every change
// committed before View began.
func (s *Store) View(fn func(store.Tx) error) error {
	_, err := s.ViewRevision(fn)
	return err
}

// ViewRevision is View that also returns the etcd revision fn's snapshot was read at (0 if fn read
// nothing): Watch from it delivers exactly the changes committed after that snapshot.
func (s *Store) ViewRevision(fn func(store.Tx) error) (int64, error) {
	return s.view(fn, false)
}

// ViewStale implements store.StaleViewer: fn reads with serializable requests, which the member the
// client is connected to answers from its own copy of the data, without a leader or a quorum. That copy
// may lag changes the cluster has committed (a member cut off from the others lags by all of them), so
// use it only where an old answer, said to be old, is better than none; fn's reads are still one
// consistent snapshot (one revision of that member).
func (s *Store) ViewStale(fn func(store.Tx) error) error {
	_, err := s.view(fn, true)
	return err
}

// view runs fn on a read-only snapshot; stale selects serializable reads.
func (s *Store) view(fn func(store.Tx) error, stale bool) (int64, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	t := &tx{s: s, stale: stale}
	defer t.end()
	if err := fn(t); err != nil {
		return t.rev, err
	}
	if err := t.start(); err != nil { // a View that read nothing still has a revision: now's
		return 0, err
	}
	return t.rev, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close state store %s: %w", s.where, err)
	}
	return nil
}
