// Package resp reads client commands (RESP2/RESP3 multibulk and inline) with hard bounds on every size,
// and copies server replies frame by frame as raw bytes.
//
// Nothing here allocates per command on the hot path: a Reader hands out commands whose byte slices point
// into its own buffer, valid until the next call that reads.
//
// It is a leaf: it imports no other moat package.
package resp

// Limits bound everything a client can make the Reader hold. The zero value is not useful; start from
// DefaultLimits.
type Limits struct {
	// MaxInline is the longest inline command line, and the longest "*N" or "$N" header line
	// (Redis: PROTO_INLINE_MAX_SIZE, 64 KiB).
	MaxInline int
	// MaxArgs is the largest multibulk count accepted (Redis 7: INT_MAX; moat defaults lower).
	MaxArgs int
	// MaxBulk is the largest bulk argument (redis.conf proto-max-bulk-len, 512 MiB).
	MaxBulk int64
	// MaxBuffered is the largest command held whole in memory, and the number of bytes after which a batch
	// ends even if more complete commands are already buffered. A longer command is handed out with the
	// arguments that fit and its remainder is streamed through (see Reader.Continue), so that a 512 MiB value
	// never sits whole in moat's memory.
	MaxBuffered int
	// Unauthenticated applies Redis's bounds for a client that must still authenticate: at most 10
	// arguments and 16 KiB per argument ("unauthenticated multibulk length", "unauthenticated bulk
	// length"), and one command per batch, so that the commands after an AUTH are read with the limits
	// that follow it, as Redis reads them.
	Unauthenticated bool
}

// Redis's bounds while a client must authenticate (networking.c, authRequired).
const (
	unauthMaxArgs = 10
	unauthMaxBulk = 16384
)

// DefaultLimits mirrors redis-server 7.0 where Redis has a limit and picks conservative bounds where it
// has none.
func DefaultLimits() Limits {
	return Limits{
		MaxInline:   64 * 1024,
		MaxArgs:     1024 * 1024,
		MaxBulk:     512 * 1024 * 1024,
		MaxBuffered: 1024 * 1024,
	}
}
