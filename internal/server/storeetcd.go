package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/moat-dev/moat/internal/controlplane/store"
)

// openEtcd opens the etcd state store (waiting for the etcd store package).
func openEtcd(_ context.Context, o StoreOptions, log *slog.Logger) (store.Store, error) {
	return nil, errors.New("--store etcd: not built yet")
}
