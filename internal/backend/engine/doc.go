// Package engine is moat's in-process Redis-compatible engine: github.com/alicebob/miniredis/v2
// (v2.40.0: strings, lists, hashes, sets, sorted sets, streams, HyperLogLog, geo, Lua scripting,
// pub/sub, blocking commands, MULTI/WATCH, RESP3 via HELLO 3, 16+ databases) with real expiry
// (ClockTTL, on the engine's own clock, which clockLoop moves to the wall clock's time in ticks),
// served by this package's own connection loop and made durable by this package's append-only log.
//
// # Serving
//
// Each connection reads every command already received, runs them one after the other and sends
// the replies of the whole batch in one write (a pipeline of 16 commands costs one read and one
// write). Replies to an unknown command and TTL are given in Redis 7's form (the library's differ).
// A command that may block (BLPOP …, XREAD/XREADGROUP BLOCK) runs while a watcher reads the
// connection, so that a client that goes away ends the wait.
//
// # The log (engine.aof)
//
// A sequence of RESP commands, as Redis's appendonly file: replayed into an empty engine at Open.
// Every command that changes data is appended under one write lock, in the order the engine ran
// them, as one unit: a single command, or several between MULTI and EXEC, which are replayed only
// once their EXEC is read. What a unit holds:
//   - deterministic commands (SET without EX/PX, INCR, LPUSH, HSET, ZADD, DEL, EXPIREAT, …): the
//     command as sent;
//   - commands with relative times or randomness (SET … EX/PX, SETEX, PSETEX, GETEX, EXPIRE, PEXPIRE,
//     RESTORE, HEXPIRE, HSETEX, SPOP, XCLAIM, XAUTOCLAIM), scripts (EVAL, EVALSHA: the state of their
//     KEYS), blocking pops and every command run by EXEC: the resulting state of the keys they touch,
//     rewritten as DEL + SET/RPUSH/HSET/SADD/ZADD/XADD (and a stream's groups, streams.go) + PEXPIREAT
//     with the absolute expiry in milliseconds (HPEXPIREAT per hash field). Expiries are absolute,
//     so a key whose time passed while the engine was down is gone at load;
//   - XADD with an automatic ID: the command with the ID it got;
//   - a refused command (an error reply) and an EXEC aborted by WATCH or a queueing error: nothing.
//
// Durability: a batch's units are written to the kernel before its replies are sent, so every
// acknowledged write survives a clean restart and a kill -9 of the process (nothing acknowledged is
// lost). The log is fsynced every second (Redis's appendfsync everysec): a power cut or kernel
// crash loses at most the last second of writes (TestPowerCutLosesAtMostOneSecond models the page
// cache: the log's writes reach the disk only when fsynced, and the process is killed). Close
// writes, fsyncs and closes the log. A log cut short in the middle of a unit (a crash during the
// write) is truncated at load to its last whole unit, with a warning.
//
// Compaction: once the log reaches twice its size after the last load or rewrite (and at least
// 64 MiB), it is rewritten from the engine's data (one command per key and one PEXPIREAT per
// expiry; a temp file, fsynced, renamed over the log, the directory fsynced): checked after every
// fsync and as soon as a write makes it due, so the log stays within about twice the data (or 64 MiB)
// at any rate of writes. Logged commands wait meanwhile; reads do not. Every key reads back whole:
// HyperLogLogs are strings in Redis's format (the engine's own PFADD, PFCOUNT and PFMERGE, hll.go:
// counts equal redis-server's), and a stream is written with its last generated ID and its consumer
// groups (last-delivered ID, consumers, pending entries with owner, delivery count and time of last
// delivery; streams.go). The times consumers were last seen are not kept: they restart at load.
//
// Not kept: the script cache (SCRIPT LOAD; clients reload on NOSCRIPT), subscriptions, client
// names. Scripts that write keys they do not declare in KEYS lose those writes at restart.
// XREADGROUP is logged as sent: replayed, its deliveries' times are the load's (a rewrite keeps
// the times of last delivery); XCLAIM and XAUTOCLAIM, whose choice depends on those times, log the
// stream's resulting state.
//
// # Differences from Redis 7 that a client can see
//
// Listed in README (Backends): XCLAIM … JUSTID counts a delivery (Redis does not), XINFO STREAM
// gives an empty last-generated-id for a stream no entry was ever added to, HyperLogLogs are always
// written dense (GET shows it); the command set is the library's (no FUNCTION/FCALL, CONFIG, DEBUG,
// MONITOR, SORT, CLIENT but SETNAME/GETNAME, OBJECT but IDLETIME; WAIT returns at once), COMMAND is
// refused (the library's table is Redis 5's, without ACL categories: moat then judges ACL users
// with redis-server 7.0.15's), INFO has Redis 7.0.15's sections and fields (info.go) but counts
// only what the engine tracks (0 for keyspace hits, expired keys …; no keyspace lines inside MULTI
// or a script; the expiries of a database of over 10,000 keys counted at most every 5 s), a few
// error texts differ ("invalid expire time in set"), every command runs under one lock (one core's
// worth of commands for all clients), and keys expire (and TIME moves) one clock tick late at most
// (see clockLoop).
package engine
