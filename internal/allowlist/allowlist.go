// Package allowlist holds the IP whitelist rules of an instance (SPEC W1–W8):
// parsing and printing of entries and entry lists, whitelist groups and the
// Cover/Append/Delete changes made to them, and the compiled allow set the
// data plane consults on every accepted connection.
//
// Everything here is a pure function of its arguments. Group values are
// treated as immutable: no function in this package writes to a Group or to
// an Entries slice it receives, and results may share the Entries slices of
// groups they did not change. A compiled [Set] copies what it needs and is
// safe for concurrent use.
//
// It is a leaf: it imports no other moat package.
package allowlist

import "errors"

const (
	// DefaultGroup is the group every instance has (W1) and the group a
	// change without a name applies to (W2). It cannot be deleted (W4).
	DefaultGroup = "default"

	// MaxEntries is the largest number of entries one group, or one entry
	// list, may hold (W3).
	MaxEntries = 1000

	// AttrHidden is the group attribute that marks a system group (W5).
	AttrHidden = "hidden"
)

// Sentinel errors. Every error this package returns wraps one of them together
// with the offending input (entry, group name, mode …); test with errors.Is.
// Functions that validate many things return every problem at once, joined
// with errors.Join, and errors.Is finds each of them.
var (
	ErrFormat        = errors.New("not an IP address or CIDR block")
	ErrHostBits      = errors.New("host bits are set")
	ErrPrefixLength  = errors.New("prefix length out of range")
	ErrSpace         = errors.New("spaces are not allowed (entries are separated by commas without spaces)")
	ErrDuplicate     = errors.New("duplicate")
	ErrTooMany       = errors.New("too many entries")
	ErrEmptyList     = errors.New("empty entry list (at least one entry is required)")
	ErrGroupName     = errors.New("invalid group name")
	ErrSystemGroup   = errors.New("system group cannot be created, modified or deleted by this call")
	ErrDeleteDefault = errors.New("the default group cannot be deleted")
	ErrGroupNotFound = errors.New("group not found")
	ErrEntryNotFound = errors.New("entry not found in the group")
	ErrMode          = errors.New("invalid modify mode (want Cover, Append or Delete)")
	ErrAttribute     = errors.New("invalid group attribute (want \"\" or \"hidden\")")
)
