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
// Connect (TCP keep-alive 30 s) within DialTimeout (2 s): an address that does not accept by then is
// unreachable. Then the TLS handshake for rediss, and AUTH (AUTH pass, or AUTH user pass), SELECT, the
// script guard's ACL SETUSER (guard.go) and CONFIG GET cluster-enabled pipelined in one write, their
// replies read exactly: one round trip. A connected backend has AnswerTimeout (30 s) for all that: it
// answers a new connection as it answers its clients, once free, and a busy one (a long command, a
// large reply being made) is waited for as its clients wait. ctx's deadline, when earlier, and its
// cancellation end the Dial at once. A refused AUTH or SELECT is a *RefusedError wrapping ErrAuth or
// ErrSelect, e.g.
//
//	backend redis://default:xxxxx@127.0.0.1:7001: AUTH refused: WRONGPASS invalid username-password pair or user is disabled.
//
// CONFIG GET cluster-enabled answering yes (or, when CONFIG is refused, INFO cluster — one more round
// trip — saying cluster_enabled:1) refuses a Redis Cluster node with an error wrapping ErrCluster (its
// MOVED/ASK redirections would lead clients to other nodes, past moat); a backend that refuses both
// (other than with NOAUTH) with ErrClusterUnknown. CONFIG first because MONITOR does not show admin
// commands. Every Dial checks, so a backend that comes back as a cluster node after a restart or a
// failover is refused on reconnect.
//
// # Embedded engine
//
// Package engine (github.com/alicebob/miniredis/v2 with this project's connection loop and
// append-only log), served in process on a unix socket. Layout of the instance directory (mode 0700,
// tightened with a warning if it was looser):
//
//	engine.aof      the append-only log (mode 0600; see package engine for its format and durability)
//	engine.lock     flock held while an engine runs: one engine per directory
//	run/engine.sock the engine's socket; run/ is 0700, the socket 0600
//
// The engine never listens on TCP and never on an abstract socket, so no other local user can reach
// it around the gateway. If run/engine.sock would exceed the 103 bytes a socket path may have, the
// socket goes to a fresh 0700 directory from os.MkdirTemp, removed on Close.
//
// Durability: every acknowledged write is in the log (written to the kernel before the reply) and
// survives Close and reopen and a SIGKILL of the whole process; the log is fsynced every second, so a
// power cut loses at most the last second. A directory that holds only redka.db (the engine of moat
// before this one) starts empty, with an error in the log naming the file: its data is not loaded.
//
// Replies are Redis 7's for what TestEmbeddedBehavesLikeRedis runs against a real redis-server, but
// for embeddedDiffs. The engine has no AUTH users: the gateway enforces access.
//
// It knows nothing of clients: it must not import the gateway, the snapshot or the ACL engine; of moat it
// imports only spec (the syntax of backend strings) and engine (the in-process engine).
package backend
