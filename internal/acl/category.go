package acl

// Category is one of Redis 7.0's 21 ACL command categories, as a bit so a command's categories fit in a
// Categories mask.
type Category uint8

// The categories in ACL CAT order (R70:src/acl.c ACLCommandCategories). The order matters: rendering a
// selector's command rules tries categories in this order (§2.4).
const (
	CatKeyspace Category = iota
	CatRead
	CatWrite
	CatSet
	CatSortedSet
	CatList
	CatHash
	CatString
	CatBitmap
	CatHyperLogLog
	CatGeo
	CatStream
	CatPubSub
	CatAdmin
	CatFast
	CatSlow
	CatBlocking
	CatDangerous
	CatConnection
	CatTransaction
	CatScripting
	numCategories
)

var categoryNames = [numCategories]string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
	"geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
	"transaction", "scripting",
}

// Categories is a set of categories.
type Categories uint32

// Has reports whether c is in the set.
func (cs Categories) Has(c Category) bool { return cs&(1<<c) != 0 }

// String is the category's name without the '@' ("keyspace").
func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return "?"
}

// CategoryNames returns the 21 category names in ACL CAT order (a fresh slice).
func CategoryNames() []string {
	return append([]string(nil), categoryNames[:]...)
}

// CategoryByName finds a category by name (without '@'), case-insensitively like Redis.
func CategoryByName(name string) (Category, bool) {
	for i, n := range categoryNames {
		if equalFold(n, name) {
			return Category(i), true
		}
	}
	return 0, false
}

// CategoryCommands is ACL CAT <category>: the names of the commands and subcommands in it, in table
// order. An unknown category gives Redis's error.
func (t *Table) CategoryCommands(category string) ([]string, error) {
	cat, ok := CategoryByName(cstring(category))
	if !ok {
		return nil, replyErr(replyUnknownCategory(category))
	}
	var out []string
	for _, c := range t.cmds {
		if c.cats.Has(cat) {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// equalFold compares ASCII case-insensitively, like strcasecmp in the C locale (strings.EqualFold also
// folds Unicode, e.g. the Kelvin sign to 'k', which Redis does not).
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
