package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/moat-dev/moat/internal/controlplane/store"
	"github.com/moat-dev/moat/internal/controlplane/store/etcdstore"
)

// openEtcd opens the etcd state store. While etcd cannot be reached or has no quorum it waits, retrying
// with a backoff from 250 ms to 10 s and logging each failure, until ctx ends: a gateway started
// during an etcd outage starts serving once etcd is back. Credentials etcd refuses (etcdstore.ErrAuth)
// fail at once: that is no outage.
func openEtcd(ctx context.Context, o StoreOptions, log *slog.Logger) (store.Store, error) {
	opts := etcdstore.Options{Endpoints: o.Endpoints, Prefix: o.Prefix, CACert: o.CACert, Cert: o.Cert, Key: o.Key,
		Username: o.User, Password: o.Password}
	wait := 250 * time.Millisecond
	for {
		st, err := etcdstore.Open(opts)
		if err == nil {
			return st, nil
		}
		if errors.Is(err, etcdstore.ErrAuth) {
			return nil, fmt.Errorf("state store: %w; check --etcd-user and its password (MOAT_ETCD_PASSWORD), and that the user is granted the prefix %q", err, orDefault(o.Prefix, etcdstore.DefaultPrefix))
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return nil, err
		}
		log.Warn("state store unavailable at start: waiting for etcd", "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
