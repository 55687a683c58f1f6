package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// Handler returns a slog.Handler that passes every record to h with Secret(KindText, …) applied to its
// message and to every string, error, fmt.Stringer and []string value among its attributes (groups
// included): a URL with a password that reaches a log line by any path loses the password. It is a
// safety net: code still logs secret-bearing values through Secret with their own kind. Attributes
// without a URL are passed unchanged. Safe for concurrent use if h is.
func Handler(h slog.Handler) slog.Handler {
	if r, ok := h.(handler); ok {
		return r
	}
	return handler{h}
}

type handler struct{ h slog.Handler }

func (r handler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Secret(KindText, rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cp := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cp[i] = attr(a)
	}
	return handler{r.h.WithAttrs(cp)}
}

func (r handler) WithGroup(name string) slog.Handler { return handler{r.h.WithGroup(name)} }

// attr returns a with its value redacted as text; a itself when nothing in it changes.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	text := func(s string) slog.Attr {
		if t := Secret(KindText, s); t != s {
			return slog.String(a.Key, t)
		}
		return a
	}
	switch v.Kind() {
	case slog.KindString:
		return text(v.String())
	case slog.KindGroup:
		g := v.Group()
		cp := make([]slog.Attr, len(g))
		for i, x := range g {
			cp[i] = attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(cp...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return text(x.Error())
		case fmt.Stringer:
			return text(x.String())
		case []string:
			return text(fmt.Sprint(x))
		}
	}
	return a
}
