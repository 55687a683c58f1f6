package acl

import (
	"math/rand/v2"
	"strings"
)

// Generators of random rule sets and command lines for the differential tests.

var (
	genKeyPatterns  = []string{"app:*", "app:1", "ro:*", "wo:*", "*", "k?", "k[1-3]", "cache:\\*", "*:x", "user:*:name", "a*b", "app:**"}
	genChanPatterns = []string{"news.*", "news.sport", "*", "ch?", "chat", "ev[ab]"}
	genKeys         = []string{"app:1", "app:2", "ro:1", "wo:1", "k1", "k2", "k9", "cache:*", "cache:x", "user:1:name", "ab", "x:x", "", "*"}
	genChannels     = []string{"news.sport", "news.tech", "chat", "ch1", "evb", "news.*", "*", "other"}
	genCommands     = []string{
		"get", "set", "mget", "mset", "del", "exists", "type", "copy", "rename", "lpush", "lrange", "sort", "sort_ro",
		"eval", "evalsha", "fcall", "publish", "subscribe", "psubscribe", "ssubscribe", "spublish", "unsubscribe",
		"config", "client", "select", "debug", "bitfield", "incr", "hset", "hget", "zadd", "zunionstore", "xread",
		"object", "memory", "keys", "scan", "flushall", "ping", "auth", "hello", "multi", "exec", "acl", "info",
		"migrate", "georadius", "lmove", "smove", "pfmerge",
	}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// genCommandName returns a command or subcommand name from the table or from the favourites.
func genCommandName(rng *rand.Rand, t *Table) string {
	if rng.IntN(3) == 0 {
		return t.cmds[rng.IntN(len(t.cmds))].Name
	}
	name := pick(rng, genCommands)
	if c := t.Lookup(name); c != nil && len(c.Subcommands) > 0 && rng.IntN(2) == 0 {
		return pick(rng, c.Subcommands).Name
	}
	return name
}

// genSelectorRule is one rule that is valid inside a selector (or a plausible mistake).
func genSelectorRule(rng *rand.Rand, t *Table) string {
	switch rng.IntN(30) {
	case 0, 1, 2, 3:
		return "~" + pick(rng, genKeyPatterns)
	case 4, 5:
		return pick(rng, []string{"%R~", "%W~", "%RW~", "%WR~", "%r~"}) + pick(rng, genKeyPatterns)
	case 6:
		return pick(rng, []string{"allkeys", "resetkeys", "AllKeys", "~*"})
	case 7, 8:
		return "&" + pick(rng, genChanPatterns)
	case 9:
		return pick(rng, []string{"allchannels", "resetchannels", "&*"})
	case 10, 11, 12, 13:
		return "+" + genCommandName(rng, t)
	case 14, 15:
		return "-" + genCommandName(rng, t)
	case 16, 17, 18:
		return "+@" + pick(rng, categoryNames[:])
	case 19, 20:
		return "-@" + pick(rng, categoryNames[:])
	case 21:
		return pick(rng, []string{"allcommands", "nocommands", "+@all", "-@all", "+@ALL", "+GET", "+@READ"})
	case 22:
		return pick(rng, []string{"+select|0", "+select|1", "+debug|object", "+SELECT|0", "+config|get", "-config|set", "+client|id"})
	case 23:
		if rng.IntN(3) > 0 {
			return pick(rng, []string{"+@all", "allkeys", "&*", "+@pubsub", "+@read", "+@write"})
		}
		return pick(rng, []string{"-select|0", "+config|get|x", "+DEBUG|", "+nosuch", "+get|x", "+@bogus", "+", "-@", "+|get"})
	case 24:
		if rng.IntN(3) > 0 {
			return pick(rng, []string{"+@all", "~*", "&news.*", "+@pubsub", "+@keyspace", "%R~*"})
		}
		return pick(rng, []string{"%~x", "%RR~x", "%Rx~y", "~", "%R~", "~a b", "&a\tb", "~x\x00y", "nosuchrule", ")"})
	default:
		if rng.IntN(2) == 0 {
			return "~" + pick(rng, genKeyPatterns)
		}
		return "+" + genCommandName(rng, t)
	}
}

// genRules returns the arguments of one ACL SETUSER call.
func genRules(rng *rand.Rand, t *Table) []string {
	var out []string
	for range 1 + rng.IntN(8) {
		switch rng.IntN(24) {
		case 0:
			out = append(out, pick(rng, []string{"on", "off", "ON", "nopass", "resetpass", "skip-sanitize-payload", "sanitize-payload"}))
		case 1:
			out = append(out, pick(rng, []string{">pw1", ">pw2", "<pw1", "#" + HashPassword([]byte("pw3")), "!" + HashPassword([]byte("pw1"))}))
		case 2:
			if rng.IntN(2) == 0 {
				out = append(out, "on")
				continue
			}
			out = append(out, pick(rng, []string{"<nopw", "#ABC", "#" + strings.ToUpper(HashPassword([]byte("x"))), "!abc"}))
		case 3:
			out = append(out, pick(rng, []string{"reset", "clearselectors", "", "Reset"}))
		case 4, 5:
			var parts []string
			for range 1 + rng.IntN(4) {
				parts = append(parts, genSelectorRule(rng, t))
			}
			switch rng.IntN(6) {
			case 0: // split over several arguments, as redis-cli users write it
				parts[0] = "(" + parts[0]
				parts[len(parts)-1] += ")"
				out = append(out, parts...)
			case 1:
				out = append(out, "("+strings.Join(parts, "  ")+")")
			default:
				out = append(out, "("+strings.Join(parts, " ")+")")
			}
		default:
			out = append(out, genSelectorRule(rng, t))
		}
	}
	if rng.IntN(60) == 0 {
		out = append(out, "(~unclosed") // an unmatched parenthesis
	}
	return out
}

// genCommandLine returns a command line with a valid arity, its arguments drawn from the keys and
// channels the patterns talk about.
func genCommandLine(rng *rand.Rand, t *Table) []string {
	name := genCommandName(rng, t)
	c := t.Lookup(name)
	var line []string
	if c.parent != nil {
		base, sub, _ := strings.Cut(c.Name, "|")
		line = []string{base, sub}
	} else {
		line = []string{c.Name}
	}
	n := c.Arity
	if n < 0 {
		n = -n + rng.IntN(4)
	}
	pool := genKeys
	if c.channels.flags != 0 {
		pool = genChannels
	}
	for len(line) < n {
		switch r := rng.IntN(10); {
		case r < 6:
			line = append(line, pick(rng, pool))
		case r < 8:
			line = append(line, pick(rng, []string{"0", "1", "2", "3"}))
		default:
			line = append(line, pick(rng, []string{"GET", "STORE", "BY", "w_*", "LIMIT", "STREAMS", "x", "KEYS"}))
		}
	}
	return line
}
