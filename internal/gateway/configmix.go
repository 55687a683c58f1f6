package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/resp"
)

// A CONFIG SET that names moat's parameters (requirepass, acllog-max-len, maxclients) or the backend's
// wiring (configwiring.go) beside the backend's other parameters is applied all or none, as Redis 7.0.15 applies one CONFIG SET (config.c, configSetCommand:
// a first pass over the names refuses unknown, immutable, protected and duplicate ones; a second sets
// the values in order and, at the first that fails, puts back those set; a third applies them; the
// reply names the failure met first).
//
// The contract of configSetMixed, outside MULTI:
//
//  1. It runs after every earlier command of the client has run: the batch is cut before it
//     (mixedConfigSet, in session.read) and it waits for the replies still owed (configBarrier).
//  2. moat's pairs are checked without changing anything (configValues, then applyFailure unless a
//     value failed: maxclients against the open-files limit, Redis's third pass); a pair of the
//     backend's wiring (rediscmd.GuardedConfig) is never sent: it fails Redis's first pass at its place
//     as a protected config unless it sets the value the backend has (configwiring.go).
//  3. On a connection of moat's own login to the backend, the backend's first pass is asked without
//     effect: CONFIG SET of its pairs and a repeat of the first, which Redis refuses as a duplicate
//     unless an earlier name fails first (unknown, immutable, protected, repeated) — and then it changes
//     nothing either. A first-pass failure of either side is answered now, the one Redis names first.
//  4. CONFIG GET reads the current values of the backend's parameters; CONFIG SET sets the backend's
//     pairs, which Redis applies all or none. Refused: nothing changed anywhere, and the reply is the
//     failure Redis would name first of the backend's (placed by the name its error quotes) and moat's
//     (configFailure.first).
//  5. Accepted, and moat's pairs failed their check, or storing them failed (the ConfigStore, as for
//     moat's parameters alone): the backend's parameters are set back to the values read in 4 and the
//     reply is moat's failure. Otherwise moat's parameters are stored and published before the reply,
//     +OK.
//
// Not atomic for other clients: between 4 and a restore they may see the backend's new values, and a
// change they make meanwhile to the same parameters is undone by the restore. A restore that fails (the
// backend went away) is logged; the client gets the failure's reply all the same. A backend that cannot
// be reached is answered as on any command (replyBackendUnavailable), nothing changed. Inside MULTI,
// where moat cannot run this at EXEC, such a CONFIG SET is refused (configCommand), dooming the
// transaction.

// mixedConfigSet reports a CONFIG SET (by its original name) outside MULTI that names moat's
// parameters or the backend's wiring, alone or beside others, which must run after every earlier
// command of the client (configBarrier): a mixed one reads and sets the backend's parameters; one of
// moat's alone must not change the values a CONFIG GET still under way shows for them (configReply).
func (st *decideState) mixedConfigSet(c *resp.Command) bool {
	if st.multi || len(c.Args) < 4 || len(c.Args)%2 != 0 {
		return false
	}
	var name, sub [16]byte
	cmd := lower(c.Args, 0, &name)
	if !st.renames.Empty() {
		if r, ok := st.renames.Lookup(cmd); ok {
			cmd = r.Original
		}
	}
	if cmd != "config" || lower(c.Args, 1, &sub) != "set" {
		return false
	}
	for i := 2; i < len(c.Args); i += 2 {
		var long [64]byte
		if moatConfigParam(c.Args[i]) != "" || guardedParam(c.Args[i], &long) != "" {
			return true
		}
	}
	return false
}

// configBarrier waits until the backend has run every command the client sent before this one: the
// shared lane's replies delivered, or on a dedicated lane every reply owed written to the client (owed,
// polled: a CONFIG SET of moat's parameters is rare). False: the session ended.
func (s *session) configBarrier(st *decideState) bool {
	if s.sh.lane != nil {
		return s.settle()
	}
	// On a dedicated lane every earlier command has run once its reply has been written: the pump has
	// answered every slot queued so far.
	for wait := 50 * time.Microsecond; s.owed.Load() > 0; wait = min(2*wait, 5*time.Millisecond) {
		select {
		case <-s.done:
			return false
		case <-time.After(wait):
		}
	}
	return true
}

// configSetMixed applies CONFIG SET's pairs, moat's, the backend's and those of its wiring (judged by
// the backend's values: configwiring.go, never sent), all or none (the contract above), and returns the
// reply (nil: the session ended).
func (st *decideState) configSetMixed(pairs [][]byte) []byte {
	s := st.sess
	if !s.configBarrier(st) {
		return nil
	}
	mine := func(i int) bool { return moatConfigParam(pairs[2*i]) != "" }
	values, bad := configValues(pairs, mine)
	var theirs, wiring backendPairs
	for i := 0; i < len(pairs); i += 2 {
		var long [64]byte
		switch {
		case mine(i / 2):
		case guardedParam(pairs[i], &long) != "":
			wiring.pairs, wiring.at = append(wiring.pairs, pairs[i], pairs[i+1]), append(wiring.at, i/2)
		default:
			theirs.pairs, theirs.at = append(theirs.pairs, pairs[i], pairs[i+1]), append(theirs.at, i/2)
		}
	}
	if _, ok := s.in.users.(ConfigStore); !ok && len(values) > 0 {
		return replyACLSaveFailed
	}
	conn, err := s.in.dialConfig()
	if err != nil {
		s.in.log.Error("CONFIG SET not applied: the backend could not be reached", "client", s.peer, "err", err)
		return replyBackendUnavailable
	}
	defer conn.close()
	w, err := conn.wiringFailure(wiring, s.addr.IsLoopback())
	if err != nil {
		s.in.log.Error("CONFIG SET not applied: the backend's wiring could not be read", "client", s.peer, "err", err)
		return replyBackendUnavailable
	}
	f, err := conn.firstPass(theirs)
	if err != nil {
		s.in.log.Error("CONFIG SET not applied: the backend's check of the names failed", "client", s.peer, "err", err)
		return replyBackendUnavailable
	}
	if bad = bad.first(w).first(f); bad.pass == 1 || bad.pass == 0 && bad.reply != nil {
		return bad.reply
	}
	if bad.reply == nil { // the backend's refusal of a value, if any, comes before (configFailure.first)
		bad = s.in.applyFailure(values)
	}
	var old [][]byte
	if len(theirs.pairs) > 0 {
		if old, err = conn.get(theirs.pairs); err != nil {
			s.in.log.Error("CONFIG SET not applied: the backend's parameters could not be read", "client", s.peer, "err", err)
			return replyBackendUnavailable
		}
		refused, err := conn.set(theirs.pairs)
		if err != nil {
			s.in.log.Error("CONFIG SET: the backend's answer was lost", "client", s.peer, "err", err)
			st.restoreConfig(old) // whether it applied them is unknown
			return replyBackendUnavailable
		}
		if refused != "" { // the backend changed nothing
			return theirs.failure(refused).first(bad).reply
		}
	}
	if bad.reply == nil && len(values) > 0 {
		bad.reply = st.storeParams(values)
	}
	if bad.reply != nil {
		if err := conn.restore(old); err != nil {
			s.in.log.Error("CONFIG SET: the backend's parameters could not be set back after moat's failed", "client", s.peer, "err", err)
		}
		return bad.reply
	}
	return replyOK
}

// firstPass asks the backend's first pass over theirs' names without effect (step 3 of the contract):
// its failure, or none.
func (c *configConn) firstPass(theirs backendPairs) (configFailure, error) {
	if len(theirs.pairs) == 0 {
		return configFailure{}, nil
	}
	n := len(theirs.pairs)
	probe := backendPairs{pairs: append(theirs.pairs[:n:n], theirs.pairs[0], theirs.pairs[1]), at: append(theirs.at[:n/2:n/2], -1)}
	refused, err := c.set(probe.pairs)
	switch {
	case err != nil:
		return configFailure{}, err
	case refused == "": // applied: a backend that takes a repeated name (not Redis 7)
		return configFailure{}, errRepeatAccepted
	}
	if f := probe.failure(refused); f.at != -1 {
		return f, nil
	}
	return configFailure{}, nil
}

// errNoBackend: the Instance has no backend to ask.
var errNoBackend = errors.New("no backend")

// errRepeatAccepted: the backend accepted a CONFIG SET that repeats a parameter, which Redis 7 refuses.
var errRepeatAccepted = errors.New("the backend accepted a CONFIG SET naming a parameter twice")

// restoreConfig sets the backend's parameters back to old on a new connection (the one that read them
// failed).
func (st *decideState) restoreConfig(old [][]byte) {
	conn, err := st.sess.in.dialConfig()
	if err == nil {
		err = conn.restore(old)
		conn.close()
	}
	if err != nil {
		st.sess.in.log.Error("CONFIG SET: the backend's parameters could not be set back", "client", st.sess.peer, "err", err)
	}
}

// backendPairs are the pairs of a CONFIG SET sent to the backend and, for each, the index of the pair
// in the client's command (-1: one moat added).
type backendPairs struct {
	pairs [][]byte
	at    []int
}

// failure places the backend's refusal (its error text) of a CONFIG SET of b: a first-pass failure names
// the argument as typed, a second-pass one the parameter's canonical (lower-case) name; at is the
// client's pair (-1: moat's added one). A refusal that names no pair (LOADING, a refused command) comes
// before any (pass 0).
func (b backendPairs) failure(text string) configFailure {
	f := configFailure{pass: 0, at: 0, reply: errorReply(text)}
	const unknown, failed = configSetUnknownText, configSetFailedText
	var name, why string
	switch {
	case strings.HasPrefix(text, unknown) && strings.HasSuffix(text, "'"):
		name, why = text[len(unknown):len(text)-1], "unknown"
	case strings.HasPrefix(text, failed):
		rest := text[len(failed):]
		i := strings.LastIndex(rest, "')")
		if i < 0 {
			return f
		}
		name, why = rest[:i], strings.TrimPrefix(rest[i+2:], " - ")
	default:
		return f
	}
	f.pass = 2
	switch why {
	case "unknown", "can't set immutable config", "can't set protected config", "duplicate parameter":
		f.pass = 1
	}
	f.at = 1 << 30 // not found: after every pair
	for i := 0; i < len(b.pairs); i += 2 {
		if sameConfigName(f.pass, b.pairs[i], name) && (why != "duplicate parameter" || b.repeated(i)) {
			f.at = b.at[i/2] // the first that fits
			break
		}
	}
	return f
}

// repeated reports whether the pair at i repeats the name of an earlier one (any case).
func (b backendPairs) repeated(i int) bool {
	for j := 0; j < i; j += 2 {
		if bytes.EqualFold(b.pairs[j], b.pairs[i]) {
			return true
		}
	}
	return false
}

// sameConfigName reports whether typed is the name a refusal quotes: as typed in the first pass, the
// canonical (lower-case) name in the second.
func sameConfigName(pass int, typed []byte, quoted string) bool {
	if pass == 1 {
		return string(typed) == quoted
	}
	return strings.EqualFold(string(typed), quoted)
}

// configConn is a connection of moat's own login to the backend for a mixed CONFIG SET, read and
// written by one goroutine.
type configConn struct {
	c       interface{ Close() error }
	w       func([]byte) error
	br      *bufio.Reader
	timeout time.Duration
}

// dialConfig dials moat's login to the backend for configSetMixed.
func (in *Instance) dialConfig() (*configConn, error) {
	if in.backend == nil { // an Instance started without one (Start allows it)
		return nil, errNoBackend
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.dialTimeout)
	defer cancel()
	c, err := in.backend.Dial(ctx)
	if err != nil {
		return nil, err
	}
	timeout := max(in.dialTimeout, 5*time.Second)
	w := func(b []byte) error {
		c.SetDeadline(time.Now().Add(timeout))
		_, err := c.Write(b)
		return err
	}
	return &configConn{c: c, w: w, br: bufio.NewReader(c), timeout: timeout}, nil
}

func (c *configConn) close() { c.c.Close() }

// do sends one command and reads its reply.
func (c *configConn) do(args ...[]byte) (acl.Value, error) {
	out := resp.AppendArray(nil, len(args))
	for _, a := range args {
		out = resp.AppendBulk(out, a)
	}
	if err := c.w(out); err != nil {
		return acl.Value{}, err
	}
	return acl.ReadValue(c.br)
}

// get reads the current values of pairs' parameters (names with glob characters, which no parameter
// has, are left out), as name, value pairs to set them back with.
func (c *configConn) get(pairs [][]byte) ([][]byte, error) {
	args := [][]byte{[]byte("CONFIG"), []byte("GET")}
	for i := 0; i < len(pairs); i += 2 {
		if !bytes.ContainsAny(pairs[i], "*?[") {
			args = append(args, pairs[i])
		}
	}
	if len(args) == 2 {
		return nil, nil
	}
	v, err := c.do(args...)
	switch {
	case err != nil:
		return nil, err
	case v.Kind == acl.KindError && strings.HasPrefix(v.Str, backendUnknownCommand):
		return nil, errNoConfig
	case v.Kind == acl.KindError:
		return nil, fmt.Errorf("CONFIG GET: %s", v.Str)
	case v.Kind != acl.KindArray && v.Kind != acl.KindMap:
		return nil, fmt.Errorf("CONFIG GET: %w", resp.ErrReply)
	}
	old := make([][]byte, 0, len(v.Elems))
	for _, e := range v.Elems {
		old = append(old, []byte(e.Str))
	}
	return old[:len(old)/2*2], nil
}

// errNoConfig: the backend has no CONFIG command (the in-process engine).
var errNoConfig = errors.New("the backend has no CONFIG command")

// set sends CONFIG SET pairs: refused is the backend's error text, "" when it accepted.
func (c *configConn) set(pairs [][]byte) (refused string, err error) {
	v, err := c.do(append([][]byte{[]byte("CONFIG"), []byte("SET")}, pairs...)...)
	switch {
	case err != nil:
		return "", err
	case v.Kind == acl.KindError:
		return v.Str, nil
	case v.Kind != acl.KindSimple:
		return "", fmt.Errorf("CONFIG SET: %w", resp.ErrReply)
	}
	return "", nil
}

// restore sets the parameters get read back.
func (c *configConn) restore(old [][]byte) error {
	if len(old) == 0 {
		return nil
	}
	refused, err := c.set(old)
	if err == nil && refused != "" {
		err = fmt.Errorf("CONFIG SET: %s", refused)
	}
	return err
}
