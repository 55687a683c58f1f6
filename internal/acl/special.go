package acl

// This file holds what a COMMAND reply cannot say (§2.9, §2.10): the commands that find their own keys
// (get_keys_function in Redis's command table), the fixed channel table, and the SORT BY/GET rule. They
// are keyed by command name, so they apply to a table loaded from any backend.

// keyFinder names a command's own key finder. Finders are called through a switch, not a function
// value, so the key buffer the ACL check passes stays on the stack.
type keyFinder uint8

const (
	noFinder           keyFinder = iota
	finderSet                    // setGetKeys: the GET option makes the access a read
	finderBitfield               // bitfieldGetKeys: only GET/OVERFLOW operations make it read-only
	finderSort                   // sortGetKeys: the key plus the last STORE destination
	finderSortRO                 // sortROGetKeys
	finderMigrate                // migrateGetKeys
	finderGeoradius              // georadiusGetKeys
	finderXread                  // xreadGetKeys
	finderNumKeys2               // evalGetKeys, functionGetKeys, blmpopGetKeys, bzmpopGetKeys: count at 2, keys from 3
	finderNumKeys1               // zunionInterDiffGetKeys, sintercardGetKeys, lmpopGetKeys, zmpopGetKeys: count at 1
	finderNumKeysStore           // zunionInterDiffStoreGetKeys: destination 1, count at 2, keys from 3
)

// keyFinderFor returns the key finder redis-server 7.0.15 has for a command (its get_keys_function), or
// noFinder. Each one follows the 7.0.15 function named above (R70:src/db.c).
func keyFinderFor(name string) keyFinder {
	switch name {
	case "set":
		return finderSet
	case "bitfield":
		return finderBitfield
	case "sort":
		return finderSort
	case "sort_ro":
		return finderSortRO
	case "migrate":
		return finderMigrate
	case "georadius", "georadiusbymember":
		return finderGeoradius
	case "xread", "xreadgroup":
		return finderXread
	case "eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro", "blmpop", "bzmpop":
		return finderNumKeys2
	case "zunion", "zinter", "zdiff", "zintercard", "sintercard", "lmpop", "zmpop":
		return finderNumKeys1
	case "zunionstore", "zinterstore", "zdiffstore":
		return finderNumKeysStore
	}
	return noFinder
}

// find appends the keys the finder sees in args to buf.
func (f keyFinder) find(args [][]byte, buf []keyRef) []keyRef {
	switch f {
	case finderSet:
		return setKeys(args, buf)
	case finderBitfield:
		return bitfieldKeys(args, buf)
	case finderSort:
		return sortKeys(args, buf)
	case finderSortRO:
		return append(buf, keyRef{pos: 1, flags: KeyRO | KeyAccess})
	case finderMigrate:
		return migrateKeys(args, buf)
	case finderGeoradius:
		return georadiusKeys(args, buf)
	case finderXread:
		return xreadKeys(args, buf)
	case finderNumKeys2:
		return numKeys(args, buf, 0, 2, 3)
	case finderNumKeys1:
		return numKeys(args, buf, 0, 1, 2)
	case finderNumKeysStore:
		return numKeys(args, buf, 1, 2, 3)
	}
	return buf
}

// numKeys is genericGetKeys: argv[countAt] (read with atoi) keys from argv[firstAt], then the
// destination argv[storeAt] when storeAt > 0. No keys when the count is out of range. Flags are 0.
func numKeys(args [][]byte, buf []keyRef, storeAt, countAt, firstAt int) []keyRef {
	if countAt >= len(args) {
		return buf
	}
	num := atoi(args[countAt])
	if num < 1 || num > len(args)-firstAt {
		return buf
	}
	for i := range num {
		buf = append(buf, keyRef{pos: int32(firstAt + i)})
	}
	if storeAt > 0 {
		buf = append(buf, keyRef{pos: int32(storeAt)})
	}
	return buf
}

func setKeys(args [][]byte, buf []keyRef) []keyRef {
	for _, a := range args[min(3, len(args)):] {
		if equalFoldBytes(a, "get") {
			return append(buf, keyRef{pos: 1, flags: KeyRW | KeyAccess | KeyUpdate})
		}
	}
	return append(buf, keyRef{pos: 1, flags: KeyOW | KeyUpdate})
}

func bitfieldKeys(args [][]byte, buf []keyRef) []keyRef {
	readonly := true
loop:
	for i := 2; i < len(args); i++ {
		rem := len(args) - i - 1
		switch {
		case equalFoldBytes(args[i], "get") && rem >= 2:
			i += 2
		case (equalFoldBytes(args[i], "set") || equalFoldBytes(args[i], "incrby")) && rem >= 3:
			readonly = false
			break loop
		case equalFoldBytes(args[i], "overflow") && rem >= 1:
			i++
		default:
			readonly = false // a syntax error: safer to assume a write
			break loop
		}
	}
	if readonly {
		return append(buf, keyRef{pos: 1, flags: KeyRO | KeyAccess})
	}
	return append(buf, keyRef{pos: 1, flags: KeyRW | KeyAccess | KeyUpdate})
}

func sortKeys(args [][]byte, buf []keyRef) []keyRef {
	buf = append(buf, keyRef{pos: 1, flags: KeyRO | KeyAccess})
	store := 0
	for i := 2; i < len(args); i++ {
		switch {
		case equalFoldBytes(args[i], "limit"):
			i += 2
		case equalFoldBytes(args[i], "get"), equalFoldBytes(args[i], "by"):
			i++
		case equalFoldBytes(args[i], "store") && i+1 < len(args):
			store = i + 1 // the last STORE wins, as in SORT itself; its argument is not skipped
		}
	}
	if store > 0 {
		buf = append(buf, keyRef{pos: int32(store), flags: KeyOW | KeyUpdate})
	}
	return buf
}

func migrateKeys(args [][]byte, buf []keyRef) []keyRef {
	first, num := 3, 1
	if len(args) > 6 {
	scan:
		for i := 6; i < len(args); i++ {
			if equalFoldBytes(args[i], "keys") {
				if len(args[3]) > 0 {
					return buf // "Cannot use MIGRATE KEYS with a non-empty key argument": no keys
				}
				first, num = i+1, len(args)-i-1
				break scan
			}
			switch {
			case equalFoldBytes(args[i], "auth"):
				i++ // the password
			case equalFoldBytes(args[i], "auth2"):
				i += 2 // user and password
			}
		}
	}
	for i := range num {
		buf = append(buf, keyRef{pos: int32(first + i), flags: KeyRW | KeyAccess | KeyDelete})
	}
	return buf
}

func georadiusKeys(args [][]byte, buf []keyRef) []keyRef {
	stored := -1
	for i := 5; i < len(args); i++ {
		if (equalFoldBytes(args[i], "store") || equalFoldBytes(args[i], "storedist")) && i+1 < len(args) {
			stored = i + 1
			i++
		}
	}
	buf = append(buf, keyRef{pos: 1})
	if stored > 0 {
		buf = append(buf, keyRef{pos: int32(stored)})
	}
	return buf
}

func xreadKeys(args [][]byte, buf []keyRef) []keyRef {
	streams := -1
loop:
	for i := 1; i < len(args); i++ {
		switch {
		case equalFoldBytes(args[i], "block"), equalFoldBytes(args[i], "count"):
			i++
		case equalFoldBytes(args[i], "group"):
			i += 2
		case equalFoldBytes(args[i], "noack"):
		case equalFoldBytes(args[i], "streams"):
			streams = i
			break loop
		default:
			break loop
		}
	}
	if streams < 0 {
		return buf
	}
	num := len(args) - streams - 1
	if num == 0 || num%2 != 0 {
		return buf
	}
	num /= 2
	for i := streams + 1; i < len(args)-num; i++ {
		buf = append(buf, keyRef{pos: int32(i)})
	}
	return buf
}

// ChannelFlags say how a command uses a channel argument (CMD_CHANNEL_*).
type ChannelFlags uint8

// Channel flags.
const (
	ChannelPattern ChannelFlags = 1 << iota
	ChannelPublish
	ChannelSubscribe
	ChannelUnsubscribe
)

// channelSpec is an entry of the fixed channel table: args[start:] (count -1) or args[start:start+count]
// are channels used as flags say. The zero value means no channels.
type channelSpec struct {
	flags ChannelFlags
	start int
	count int
}

// channelSpecFor is the 7.0.15 channel table (R70:src/db.c commands_with_channels).
func channelSpecFor(name string) channelSpec {
	switch name {
	case "subscribe", "ssubscribe":
		return channelSpec{ChannelSubscribe, 1, -1}
	case "psubscribe":
		return channelSpec{ChannelPattern | ChannelSubscribe, 1, -1}
	case "unsubscribe", "sunsubscribe":
		return channelSpec{ChannelUnsubscribe, 1, -1}
	case "punsubscribe":
		return channelSpec{ChannelPattern | ChannelUnsubscribe, 1, -1}
	case "publish", "spublish":
		return channelSpec{ChannelPublish, 1, 1}
	}
	return channelSpec{}
}

// checked reports whether the ACL check looks at this command's channels (not the UNSUBSCRIBE family).
func (cs channelSpec) checked() bool { return cs.flags&(ChannelPublish|ChannelSubscribe) != 0 }

// span returns the channel arguments' index range in a command line of argc arguments.
func (cs channelSpec) span(argc int) (start, stop int) {
	stop = argc
	if cs.count >= 0 {
		stop = min(cs.start+cs.count, argc)
	}
	return cs.start, stop
}

// Channel is one channel argument of a command line.
type Channel struct {
	Pos   int
	Flags ChannelFlags
}

// Channels returns the channel arguments of a command line (the fixed table of §2.9).
func (c *Command) Channels(args [][]byte) []Channel {
	if c.channels.flags == 0 {
		return nil
	}
	start, stop := c.channels.span(len(args))
	var out []Channel
	for i := start; i < stop; i++ {
		out = append(out, Channel{Pos: i, Flags: c.channels.flags})
	}
	return out
}
