// Package backend is where an instance's data lives: a redis-server/valkey-server moat runs and
// supervises (managed.go, the default when one is found), the embedded engine, or an upstream RESP
// server (Redis, Valkey, …) reached by URL.
//
// A Backend hands out connections ready for commands: authenticated with the instance's backend
// credentials (never a client's) and with the configured database selected. The gateway opens one
// per client connection (the "dedicated lane") and copies bytes both ways; Dial returns the
// connection with nothing buffered on either side, a plain *net.TCPConn / *net.UnixConn when no TLS
// is involved.
//
// # Specs
//
//	auto (or "")                              managed when OpenWith is given a Server, else embedded
//	managed                                   a redis-server/valkey-server moat runs, data under the instance's directory
//	embedded                                  in-process engine, data under the instance's directory
//	redis://[user[:pass]@]host[:port][/db]    TCP; port 6379 and db 0 by default
//	rediss://…[?sni=name&insecure_skip_verify=true]   TLS, verified against the system roots
//	unix:///path/to.sock[?db=N&user=name&password=pass]
//
// String() of a Spec or a Backend is the URL with the password replaced by "xxxxx"; errors use it too.
//
// # Upstream Dial
//
// Connect (TCP keep-alive 30 s), TLS handshake for rediss, then AUTH (AUTH pass, or AUTH user pass)
// and SELECT pipelined in one write, their replies read exactly. The whole Dial is bounded by
// DialTimeout (2 s) or ctx, whichever ends first; cancelling ctx ends it at once. A refused AUTH or
// SELECT is a *RefusedError wrapping ErrAuth or ErrSelect, e.g.
//
//	backend redis://default:xxxxx@127.0.0.1:7001: AUTH refused: WRONGPASS invalid username-password pair or user is disabled.
//
// Then CONFIG GET cluster-enabled (INFO cluster when CONFIG is refused), one more round trip: a
// Redis Cluster node is refused with an error wrapping ErrCluster (its MOVED/ASK redirections would
// lead clients to other nodes, past moat), a backend that refuses both (other than with NOAUTH) with
// ErrClusterUnknown. CONFIG first because MONITOR does not show admin commands. Every Dial checks, so a
// backend that comes back as a cluster node after a restart or a failover is refused on reconnect.
//
// # Embedded engine
//
// github.com/nalgeon/redka v0.6.0 on modernc.org/sqlite (pure Go, no cgo), served in process by
// redka's RESP server (redsrv, on redcon). Layout of the instance directory (mode 0700, tightened
// with a warning if it was looser):
//
//	redka.db, redka.db-wal, redka.db-shm   the SQLite database in WAL mode
//	redka.lock                             flock held while an engine runs: one engine per directory
//	run/redka.sock                         the engine's socket; run/ is 0700, the socket 0600
//
// The engine never listens on TCP and never on an abstract socket, so no other local user can reach
// it around the gateway. If run/redka.sock would exceed the 103 bytes a socket path may have, the
// socket goes to a fresh 0700 directory from os.MkdirTemp, removed on Close.
//
// SQLite settings are redka's own server's: journal_mode=wal, synchronous=normal, temp_store=memory,
// mmap_size=268435456, foreign_keys=on. Durability, as measured by this package's tests:
//   - A write is in redka.db-wal when its reply is sent. It survives Close and reopen, and it survives
//     SIGKILL of the whole process (the WAL is replayed on the next Open; a stale socket and the
//     dead process's lock do not block it).
//   - synchronous=normal does not fsync at commit: a power cut or kernel crash can lose the last
//     transactions (the same class of risk as Redis's appendfsync everysec).
//   - redka alone leaves the WAL un-checkpointed at close (its read-only pool closes last and cannot
//     checkpoint); Close therefore runs wal_checkpoint(TRUNCATE), which also fsyncs redka.db.
//
// Commands redka v0.6.0 does not have (each answers "-ERR unknown command (name)"), verified by
// TestEmbeddedCommandSupport: EVAL, EVALSHA, SCRIPT, FUNCTION; PUBLISH, SUBSCRIBE, PSUBSCRIBE;
// XADD, XREAD and all streams; CLIENT; HELLO (any version: clients fall back to RESP2); AUTH, QUIT,
// RESET; WATCH, UNWATCH; BLPOP, BRPOP, BLMOVE, BZPOPMIN and all blocking commands; TIME, OBJECT,
// DUMP, MOVE, SWAPDB, COPY, GETDEL, GETEX, APPEND, SETRANGE, GETRANGE, PTTL, EXPIRETIME, UNLINK,
// TOUCH, LPOS, LMOVE, LPUSHX, SMISMEMBER, SINTERCARD, ZPOPMIN, ZMSCORE, ZRANGESTORE, HSTRLEN,
// HRANDFIELD, MSETNX, SORT, PFADD (HyperLogLog), SETBIT/GETBIT/BITCOUNT (bitmaps), GEOADD (geo),
// MEMORY, WAIT, SLOWLOG, CLUSTER, READONLY, ROLE, SAVE, BGSAVE, LASTSAVE, MONITOR, ACL.
//
// Differences from Redis 7 in commands it does have, also verified:
//   - SELECT n answers +OK for every n but there is one keyspace: "database 3" is database 0.
//   - INFO and COMMAND answer +OK (no content); CONFIG GET answers "-ERR unknown subcommand ()".
//   - PING answers the bulk string "PONG", not +PONG.
//   - LPUSH/RPUSH take one element ("-ERR syntax error ()" for more); EXPIRE has no NX/XX/GT/LT.
//   - LRANGE of a missing key with a negative stop answers "-datatype mismatch (20) (lrange)" (an
//     SQLite error leaking) instead of an empty array; ZRANGE does not understand negative ranks
//     (ZRANGE z 0 -1 is empty).
//   - Type errors: GET of a hash is nil and LLEN of a hash is 0 instead of -WRONGTYPE; LPUSH to a
//     hash answers "-key type mismatch (lpush)". Error texts are not Redis's ("-ERR wrong number of
//     arguments ()", "-ERR unknown command (eval)").
//   - SCAN's cursor is an integer reply, not a bulk string.
//   - MULTI/EXEC: when a queued command fails at EXEC (an unknown command, a type mismatch), the
//     whole transaction is rolled back, but the replies of the commands before it were already sent
//     (+OK for a write that was undone), and when the failing command is not the last the EXEC array
//     is cut short: it announces n replies and sends fewer, so the client reads its next reply as part
//     of the EXEC array. The gateway must
//     not forward a transaction to the embedded engine that contains a command redka lacks.
//
// No AUTH, ACL or multiple databases in redka: the gateway enforces access. Each Open/Close cycle of
// the engine leaves one idle goroutine behind (redka's expiry ticker loop never ends); harmless for
// an engine opened once per instance, visible to goroutine-leak checkers.
//
// It knows nothing of clients: it must not import the gateway, the snapshot or the ACL engine; of moat it
// imports only spec (the syntax of backend strings).
package backend
