package engine

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"
)

// kind says how a command goes into the log.
type kind uint8

const (
	kindNone     kind = iota // changes nothing kept: not logged
	kindVerbatim             // deterministic: logged as sent
	kindState                // relative times or randomness: the resulting state of its keys is logged
	kindXAdd                 // XADD: logged as sent, an automatic ID replaced by the one it got
	kindScript               // EVAL, EVALSHA: the resulting state of its KEYS is logged
	kindBlocking             // may wait: runs outside the write lock, then its keys' state is logged
)

// classify says how the command name (upper case) with args goes into the log. Every command of the
// engine that changes data is listed; anything else is not logged.
func classify(name string, args []string) kind {
	switch name {
	case "APPEND", "BITOP", "DECR", "DECRBY", "DEL", "UNLINK", "GETDEL", "GETSET", "INCR", "INCRBY",
		"INCRBYFLOAT", "MSET", "MSETNX", "SETBIT", "SETNX", "SETRANGE", "DELEX", "COPY", "MOVE", "PERSIST",
		"RENAME", "RENAMENX", "EXPIREAT", "PEXPIREAT", "HDEL", "HINCRBY", "HINCRBYFLOAT", "HMSET", "HSET",
		"HSETNX", "HPERSIST", "PFADD", "PFMERGE", "LINSERT", "LMPOP", "LPOP", "LPUSH", "LPUSHX", "LREM",
		"LSET", "LTRIM", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX", "LMOVE", "SADD", "SDIFFSTORE",
		"SINTERSTORE", "SMOVE", "SREM", "SUNIONSTORE", "ZADD", "ZINCRBY", "ZREM", "ZREMRANGEBYLEX",
		"ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZMPOP", "ZUNIONSTORE", "ZINTERSTORE", "ZPOPMAX", "ZPOPMIN",
		"FLUSHALL", "FLUSHDB", "SWAPDB", "XACK", "XDEL", "XGROUP", "XTRIM", "GEOADD", "SELECT":
		return kindVerbatim
	case "GEORADIUS", "GEORADIUSBYMEMBER":
		if hasOption(args, 1, "STORE", "STOREDIST") {
			return kindVerbatim
		}
		return kindNone
	case "SET":
		if hasOption(args, 3, "EX", "PX") {
			return kindState
		}
		return kindVerbatim
	case "SETEX", "PSETEX", "GETEX", "EXPIRE", "PEXPIRE", "RESTORE", "HEXPIRE", "HSETEX", "SPOP",
		"XCLAIM", "XAUTOCLAIM": // XCLAIM's choice depends on idle times, which restart at load

		return kindState
	case "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZPOPMIN", "BZPOPMAX", "BZMPOP":
		return kindBlocking
	case "XREADGROUP":
		if hasOption(args, 1, "BLOCK") {
			return kindBlocking
		}
		return kindVerbatim
	case "XADD":
		return kindXAdd
	case "EVAL", "EVALSHA":
		return kindScript
	}
	return kindNone
}

// blockingRead reports a command that changes nothing but may wait for another client's write.
func blockingRead(name string, args []string) bool {
	return name == "XREAD" && hasOption(args, 1, "BLOCK")
}

// hasOption reports whether one of args[from:] is one of opts (any case).
func hasOption(args []string, from int, opts ...string) bool {
	for i := from; i < len(args); i++ {
		for _, o := range opts {
			if strings.EqualFold(args[i], o) {
				return true
			}
		}
	}
	return false
}

// record adds to u what the command args changed. reply is its reply when known (nil inside EXEC
// and for blocking commands, where the state of its keys is logged instead of anything that depends
// on the reply). Called with the write lock held.
func (e *Engine) record(u *unit, args []string, reply []byte, inTx bool) {
	name := strings.ToUpper(args[0])
	k := classify(name, args)
	if !inTx && len(reply) > 0 && reply[0] == '-' && k != kindScript {
		return // refused: changed nothing
	}
	switch k {
	case kindVerbatim:
		if name == "SELECT" {
			u.db = atoiOr(args[1], u.db)
		}
		u.add(args...)
	case kindXAdd:
		if id, ok := bulkString(reply); ok && !inTx {
			u.add(xaddWithID(args, id)...)
			return
		}
		e.states(u, args[1:2])
	case kindState:
		e.states(u, args[1:2])
	case kindScript:
		e.states(u, scriptKeys(args))
	case kindBlocking:
		if name == "XREADGROUP" {
			u.add(withoutBlock(args)...)
			return
		}
		e.states(u, blockingKeys(name, args))
	}
}

// states adds commands that set each of keys (in u's database) to its current state.
func (e *Engine) states(u *unit, keys []string) {
	for _, k := range keys {
		e.state(u, k, e.clock())
	}
}

// state adds the commands that recreate key as it is now (or delete it when it is gone), its expiry
// included: every type the engine holds reads back whole (streams with their consumer groups,
// streams.go; HyperLogLogs are strings, hll.go).
func (e *Engine) state(u *unit, key string, now time.Time) {
	d := e.m.DB(u.db)
	switch d.Type(key) {
	case "":
		u.add("DEL", key)
		return
	case "string":
		v, _ := d.Get(key)
		u.add("SET", key, v)
	case "hash":
		fields, _ := d.HKeys(key)
		cmd := make([]string, 0, 2+2*len(fields))
		cmd = append(cmd, "HSET", key)
		for _, f := range fields {
			cmd = append(cmd, f, d.HGet(key, f))
		}
		u.add("DEL", key)
		u.add(cmd...)
		for _, f := range fields {
			if ttl := d.HTTL(key, f); ttl > 0 {
				u.add("HPEXPIREAT", key, strconv.FormatInt(now.Add(ttl).UnixMilli(), 10), "FIELDS", "1", f)
			}
		}
	case "list":
		items, _ := d.List(key)
		u.add("DEL", key)
		u.add(append([]string{"RPUSH", key}, items...)...)
	case "set":
		members, _ := d.Members(key)
		u.add("DEL", key)
		u.add(append([]string{"SADD", key}, members...)...)
	case "zset":
		zs, _ := d.SortedSet(key)
		cmd := make([]string, 0, 2+2*len(zs))
		cmd = append(cmd, "ZADD", key)
		for m, s := range zs {
			cmd = append(cmd, formatScore(s), m)
		}
		u.add("DEL", key)
		u.add(cmd...)
	case "stream":
		e.streamState(u, key, now)
	default: // none other: HyperLogLogs are strings (hll.go)
		return
	}
	if ttl := d.TTL(key); ttl > 0 {
		u.add("PEXPIREAT", key, strconv.FormatInt(now.Add(ttl).UnixMilli(), 10))
	}
}

func formatScore(s float64) string {
	switch {
	case math.IsInf(s, 1):
		return "+inf"
	case math.IsInf(s, -1):
		return "-inf"
	}
	return strconv.FormatFloat(s, 'g', -1, 64)
}

// scriptKeys are EVAL's and EVALSHA's KEYS.
func scriptKeys(args []string) []string {
	if len(args) < 3 {
		return nil
	}
	n, err := strconv.Atoi(args[2])
	if err != nil || n < 0 || 3+n > len(args) {
		return nil
	}
	return args[3 : 3+n]
}

// blockingKeys are the keys a blocking command may change.
func blockingKeys(name string, args []string) []string {
	switch name {
	case "BRPOPLPUSH", "BLMOVE":
		if len(args) >= 3 {
			return args[1:3]
		}
	case "BZMPOP":
		if len(args) >= 3 {
			if n, err := strconv.Atoi(args[2]); err == nil && n >= 0 && 3+n <= len(args) {
				return args[3 : 3+n]
			}
		}
	default: // BLPOP, BRPOP, BZPOPMIN, BZPOPMAX: keys then the timeout
		if len(args) >= 3 {
			return args[1 : len(args)-1]
		}
	}
	return nil
}

// xaddWithID is XADD args with the entry's ID (an automatic "*" or "ms-*") replaced by id.
func xaddWithID(args []string, id string) []string {
	out := append([]string(nil), args...)
	i := 2
	for i < len(out) {
		switch strings.ToUpper(out[i]) {
		case "NOMKSTREAM":
			i++
			continue
		case "MAXLEN", "MINID":
			i++
			if i < len(out) && (out[i] == "=" || out[i] == "~") {
				i++
			}
			i++
			continue
		case "LIMIT":
			i += 2
			continue
		}
		break
	}
	if i < len(out) {
		out[i] = id
	}
	return out
}

// withoutBlock is XREADGROUP args without BLOCK ms: what it did, replayed without waiting.
func withoutBlock(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		if i > 0 && strings.EqualFold(args[i], "BLOCK") && i+1 < len(args) {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// bulkString reads a bulk-string reply ("$3\r\nabc\r\n").
func bulkString(r []byte) (string, bool) {
	b, ok := bulkBytes(r)
	return string(b), ok
}

// bulkBytes is the content of a bulk-string reply, in place.
func bulkBytes(r []byte) ([]byte, bool) {
	if len(r) < 4 || r[0] != '$' {
		return nil, false
	}
	end := bytes.Index(r, []byte("\r\n"))
	if end < 0 {
		return nil, false
	}
	n, err := strconv.Atoi(string(r[1:end]))
	rest := r[end+2:]
	if err != nil || n < 0 || len(rest) < n+2 {
		return nil, false
	}
	return rest[:n], true
}

func atoiOr(s string, or int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return or
	}
	return n
}
