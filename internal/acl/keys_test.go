package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// keyLineVocab is what generated command lines are made of: key-like words that are all distinct, the
// keywords the key specs and key finders look for, and numbers in and out of range.
var keyLineVocab = []string{
	"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9",
	"STORE", "storedist", "GET", "get", "BY", "LIMIT", "STREAMS", "streams", "KEYS", "BLOCK", "COUNT", "GROUP",
	"NOACK", "SET", "INCRBY", "OVERFLOW", "WITHSCORES", "WEIGHTS", "ALPHA", "EX", "NX", "FROM", "MATCH",
	"0", "1", "2", "3", "-1", "2abc", " 2", "+2", "02", "99999999999", "4294967297", "",
}

// genKeyLine builds a random command line for c with a valid arity.
func genKeyLine(rng *rand.Rand, c *Command) []string {
	var line []string
	if c.parent != nil {
		base, sub, _ := strings.Cut(c.Name, "|")
		line = []string{base, sub}
	} else {
		line = []string{c.Name}
	}
	n := c.Arity
	if n < 0 {
		n = -n + rng.IntN(7)
	}
	n = max(n, 2) // COMMAND GETKEYSANDFLAGS needs a command with an argument
	for len(line) < n {
		line = append(line, keyLineVocab[rng.IntN(len(keyLineVocab))])
	}
	return line
}

// handKeyLines are the special cases of §2.9, written out.
var handKeyLines = [][]string{
	{"set", "k1", "v"}, {"set", "k1", "v", "GET"}, {"set", "k1", "v", "EX", "10", "get"}, {"set", "k1", "get", "nx"},
	{"set", "k1", "v", "GETX"},
	{"bitfield", "k1"}, {"bitfield", "k1", "GET", "u8", "0"}, {"bitfield", "k1", "get", "u8", "0", "OVERFLOW", "SAT", "GET", "i4", "1"},
	{"bitfield", "k1", "GET", "u8", "0", "SET", "u8", "0", "1"}, {"bitfield", "k1", "GET", "u8"}, {"bitfield", "k1", "INCRBY", "u2", "100", "1"},
	{"bitfield", "k1", "bogus"}, {"bitfield_ro", "k1", "GET", "u8", "0"},
	{"sort", "k1"}, {"sort", "k1", "BY", "w_*", "GET", "o_*", "STORE", "k2"}, {"sort", "k1", "STORE", "k2", "STORE", "k3"},
	{"sort", "k1", "LIMIT", "0", "1", "STORE", "k2"}, {"sort", "k1", "store"}, {"sort_ro", "k1", "STORE", "k2"},
	{"migrate", "h", "6379", "k1", "0", "1000"}, {"migrate", "h", "6379", "", "0", "1000", "KEYS", "k2", "k3"},
	{"migrate", "h", "6379", "k1", "0", "1000", "KEYS", "k2", "k3"}, {"migrate", "h", "6379", "", "0", "1000", "COPY", "REPLACE"},
	{"migrate", "h", "6379", "", "0", "1000", "AUTH", "keys", "KEYS", "k2"}, {"migrate", "h", "6379", "", "0", "1000", "AUTH2", "keys", "KEYS", "KEYS", "k2"},
	{"migrate", "h", "6379", "", "0", "1000", "auth2", "u", "keys", "k2"}, {"pfmerge", "k1"},
	{"georadius", "k1", "0", "0", "1", "km", "STORE", "k2"}, {"georadius", "k1", "0", "0", "1", "km", "STORE", "k2", "STOREDIST", "k3"},
	{"georadius", "k1", "0", "0", "1", "km", "STORE"}, {"georadiusbymember", "k1", "m", "1", "km", "storedist", "k2"},
	{"xread", "STREAMS", "k1", "k2", "0", "0"}, {"xread", "COUNT", "2", "BLOCK", "0", "STREAMS", "k1", "0"}, {"xread", "STREAMS", "k1", "k2", "0"},
	{"xreadgroup", "GROUP", "g", "c", "NOACK", "STREAMS", "k1", "0"}, {"xreadgroup", "GROUP", "streams", "c", "STREAMS", "k1", ">"},
	{"eval", "s", "2", "k1", "k2", "a"}, {"eval", "s", "0"}, {"eval", "s", "3", "k1"}, {"eval", "s", "2abc", "k1", "k2"}, {"eval", "s", "-1", "k1"},
	{"evalsha_ro", "x", "1", "k1"}, {"fcall", "f", "1", "k1", "a"}, {"fcall_ro", "f", " 1", "k1"},
	{"zunionstore", "k1", "2", "k2", "k3", "WEIGHTS", "1", "2"}, {"zunionstore", "k1", "2x", "k2", "k3"}, {"zinterstore", "k1", "5", "k2"},
	{"zunion", "2", "k1", "k2"}, {"zdiff", "+2", "k1", "k2"}, {"zintercard", "2", "k1", "k2", "LIMIT", "1"}, {"sintercard", "1", "k1"},
	{"lmpop", "2", "k1", "k2", "LEFT"}, {"blmpop", "0", "2", "k1", "k2", "LEFT"}, {"zmpop", "1", "k1", "MIN"}, {"bzmpop", "0", "1", "k1", "MAX"},
	{"lmpop", "4294967297", "k1", "k2"},
	{"mset", "k1", "v", "k2", "v"}, {"mset", "k1", "v", "k2"}, {"del", "k1", "k2", "k3"}, {"blpop", "k1", "k2", "0"},
	{"exists", "k1"}, {"object", "encoding", "k1"}, {"xinfo", "stream", "k1"}, {"memory", "usage", "k1"},
	{"spublish", "ch", "m"}, {"ssubscribe", "ch"}, {"publish", "ch", "m"},
	{"lcs", "k1", "k2"}, {"getex", "k1", "PERSIST"}, {"copy", "k1", "k2"}, {"rename", "k1", "k2"},
	{"pfmerge", "k1", "k2", "k3"}, {"bitop", "AND", "k1", "k2", "k3"}, {"geosearchstore", "k1", "k2", "FROMMEMBER", "m", "BYRADIUS", "1", "km"},
}

// Keys must be what redis-server 7.0.15's COMMAND GETKEYSANDFLAGS says, key for key and flag for flag, on
// the hand-written special cases and on a few random lines for every command that has keys.
func TestKeysMatchGetKeysAndFlags(t *testing.T) {
	tbl := mustDefault(t)
	_, rc := startRedis(t)
	rng := rand.New(rand.NewPCG(1, 2))
	lines := slices.Clone(handKeyLines)
	perCommand := map[string]int{}
	for _, c := range tbl.cmds {
		if c.hasKeys || len(c.KeySpecs) > 0 {
			n := 6
			if c.finder != noFinder {
				n = 60 // the hand-written key finders get more
			}
			for range n {
				lines = append(lines, genKeyLine(rng, c))
			}
		}
	}
	cmds := make([][]string, len(lines))
	for i, l := range lines {
		cmds[i] = append([]string{"COMMAND", "GETKEYSANDFLAGS"}, l...)
	}
	replies := rc.pipeline(cmds)
	withKeys := 0
	for i, line := range lines {
		args := bytesArgs(line...)
		c, cerr := tbl.Resolve(args)
		if cerr != nil {
			t.Fatalf("%q: %v", line, cerr)
		}
		perCommand[c.Name]++
		got := c.Keys(args)
		reply := replies[i]
		switch {
		case reply.Kind == KindError && reply.Str == "ERR The command has no key arguments":
			if c.hasKeys {
				t.Errorf("%q: server says no key arguments, moat has keys", line)
			}
		case reply.Kind == KindError && reply.Str == "ERR Invalid arguments specified for command":
			if len(got) != 0 {
				t.Errorf("%q: server finds no keys, moat finds %v", line, got)
			}
		case reply.Kind == KindArray:
			var want, have []string
			for _, e := range reply.Elems {
				fl, _ := texts(e.Elems[1])
				want = append(want, e.Elems[0].Str+" "+strings.Join(fl, ","))
			}
			for _, k := range got {
				have = append(have, line[k.Pos]+" "+strings.Join(k.Flags.Names(), ","))
			}
			if !slices.Equal(want, have) {
				t.Errorf("%q:\n  redis: %q\n  moat:  %q", line, want, have)
			}
			if len(want) > 0 {
				withKeys++
			}
		default:
			t.Errorf("%q: unexpected reply %s", line, reply)
		}
	}
	t.Logf("%d command lines over %d commands, %d with keys", len(lines), len(perCommand), withKeys)
	if withKeys < 500 {
		t.Errorf("only %d lines had keys: the generator is too weak", withKeys)
	}
}

func TestString2llAndAtoi(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "12": 12, "-3": -3, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63} {
		if got, ok := string2ll([]byte(in)); !ok || got != want {
			t.Errorf("string2ll(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "-", "+1", " 1", "01", "-0", "1x", "9223372036854775808", "-9223372036854775809"} {
		if _, ok := string2ll([]byte(in)); ok {
			t.Errorf("string2ll(%q) accepted", in)
		}
	}
	for in, want := range map[string]int{"2abc": 2, " 3": 3, "+4": 4, "-5x": -5, "": 0, "x": 0, "4294967297": 1, "99999999999999999999": -1, "\t\n7": 7} {
		if got := atoi([]byte(in)); got != want {
			t.Errorf("atoi(%q) = %d, want %d", in, got, want)
		}
	}
}
