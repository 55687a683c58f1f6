package engine

import (
	"bufio"
	"strings"

	"github.com/alicebob/miniredis/v2/server"
)

// Commands the engine answers itself instead of the library: PFADD, PFCOUNT and PFMERGE (Redis's
// HyperLogLog over string values, hll.go), INFO (every section of Redis 7.0.15, info.go), and XCLAIM
// (the library's ignores min-idle-time: the engine passes it only the entries idle long enough). They are
// run by the library's pre-hook, so that they answer the same from a client, from a script
// (redis.call) and from the log's replay. Between MULTI and EXEC a client's own command is queued as a
// script that calls it (ownInTx), so that it runs at EXEC as the others do.

// ownScript runs its arguments as one command: what MULTI queues for an own command.
const ownScript = "return redis.pcall(unpack(ARGV))"

// isOwn reports whether the command name (upper case) is one the engine answers itself.
func isOwn(name string) bool {
	switch name {
	case "PFADD", "PFCOUNT", "PFMERGE", "INFO", "XCLAIM":
		return true
	}
	return false
}

// ownInTx is what MULTI queues for an own command args: a script that runs it at EXEC.
func ownInTx(args []string) []string {
	return append([]string{"EVAL", ownScript, "0"}, args...)
}

// preHook answers the own commands (name is upper case, args without it) and refuses a string grown
// past Redis's limit (limits.go); false lets the library answer.
func (e *Engine) preHook(p *server.Peer, name string, args ...string) bool {
	switch name {
	case "PFADD":
		e.pfadd(p, args)
	case "PFCOUNT":
		e.pfcount(p, args)
	case "PFMERGE":
		e.pfmerge(p, args)
	case "INFO":
		e.info(p, args)
	case "XCLAIM":
		if p.ClientName == internalPeer {
			return false // the engine's own call of the library's XCLAIM
		}
		e.xclaim(p, args)
	default:
		return limited(name) && e.overLimit(p, name, args)
	}
	return true
}

// internalPeer names the peers the engine runs the library's own commands on (call).
const internalPeer = "\x00moat-engine"

// call runs args on the library as p (in p's database, and inside p's script when p runs one) and
// returns the reply (in p's protocol).
func (e *Engine) call(p *server.Peer, args ...string) []byte {
	var out bufferWriter
	sub := server.NewPeer(bufio.NewWriterSize(&out, 512))
	sub.Ctx, sub.Resp3, sub.ClientName = p.Ctx, p.Resp3, internalPeer
	e.srv.Dispatch(sub, args)
	sub.Flush()
	return out.b
}

// getHLL reads key as p sees it: (nil, "") when it does not exist, else the HyperLogLog (read in
// place: clone it to change it), else the error reply to send (without "-" and "\r\n").
func (e *Engine) getHLL(p *server.Peer, key string) (hll, string) {
	r := e.call(p, "GET", key)
	if len(r) > 0 && r[0] == '-' {
		return nil, strings.TrimSuffix(string(r[1:]), "\r\n")
	}
	v, ok := bulkBytes(r)
	if !ok {
		return nil, ""
	}
	h, err := parseHLL(v)
	if err != nil {
		return nil, err.Error()
	}
	return h, ""
}

// putHLL stores h at key, keeping the key's expiry.
func (e *Engine) putHLL(p *server.Peer, key string, h hll) {
	e.call(p, "SET", key, h.value(), "KEEPTTL")
}

// pfadd: PFADD key [element ...]. 1 when the key was created or a register grew, else 0 (and nothing is
// written).
func (e *Engine) pfadd(p *server.Peer, args []string) {
	if len(args) < 1 {
		p.WriteError(wrongArgs("pfadd"))
		return
	}
	h, errReply := e.getHLL(p, args[0])
	if errReply != "" {
		p.WriteError(errReply)
		return
	}
	changed := h == nil // created
	if h == nil {
		h = newHLL()
	}
	owned := changed // h may be changed (else it is the value read, in place)
	for _, el := range args[1:] {
		i, n := hllPosition(el)
		if h.get(i) >= n {
			continue
		}
		if !owned {
			h, owned = h.clone(), true
		}
		h.set(i, n)
		changed = true
	}
	if !changed {
		p.WriteInt(0)
		return
	}
	e.putHLL(p, args[0], h)
	p.WriteInt(1)
}

// pfcount: PFCOUNT key [key ...]: the estimate for one key, or for the union of several (missing keys
// count as empty). Nothing is written.
func (e *Engine) pfcount(p *server.Peer, args []string) {
	if u, ok := e.unionArgs(p, "pfcount", args); ok {
		p.WriteInt(int(u.count()))
	}
}

// pfmerge: PFMERGE destkey [sourcekey ...]: destkey becomes the union of itself and the sources (created
// when missing, its expiry kept).
func (e *Engine) pfmerge(p *server.Peer, args []string) {
	if u, ok := e.unionArgs(p, "pfmerge", args); ok {
		e.putHLL(p, args[0], u)
		p.WriteOK()
	}
}

// unionArgs is the union of the HyperLogLogs at the keys args of command cmd (empty when none
// exists); false when it has sent an error instead.
func (e *Engine) unionArgs(p *server.Peer, cmd string, args []string) (hll, bool) {
	if len(args) < 1 {
		p.WriteError(wrongArgs(cmd))
		return nil, false
	}
	u, errReply := e.union(p, args)
	if errReply != "" {
		p.WriteError(errReply)
		return nil, false
	}
	if u == nil {
		u = newHLL()
	}
	return u, true
}

// union is the union of the HyperLogLogs at keys (nil when none exists), or the error reply to send
// for the first key that is not one.
func (e *Engine) union(p *server.Peer, keys []string) (hll, string) {
	var u hll
	owned := false
	for _, k := range keys {
		h, errReply := e.getHLL(p, k)
		switch {
		case errReply != "":
			return nil, errReply
		case h == nil:
		case u == nil:
			u = h
		default:
			if !owned {
				u, owned = u.clone(), true
			}
			u.merge(h)
		}
	}
	return u, ""
}

// bufferWriter gathers the replies of the library to commands the engine runs itself.
type bufferWriter struct{ b []byte }

func (w *bufferWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
