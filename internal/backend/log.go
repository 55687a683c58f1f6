package backend

import (
	"context"
	"log/slog"
)

// quietHandler passes the embedded engine's records to the gateway's handler with everything below
// Error demoted to Debug. redka logs every accepted connection at Info and every command that ends in
// an error reply (a client's WRONGTYPE, say) at Warn: those are client-driven and would flood the
// gateway's log at its normal level.
type quietHandler struct{ h slog.Handler }

func (q quietHandler) level(l slog.Level) slog.Level {
	if l < slog.LevelError {
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, q.level(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = q.level(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(attrs)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.h.WithGroup(name)}
}
