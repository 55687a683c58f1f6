package acl

import (
	"sync"
	"time"
)

// LogReason is why an ACL LOG entry was made.
type LogReason string

// ACL LOG reasons (7.0.15).
const (
	LogCommand LogReason = "command"
	LogKey     LogReason = "key"
	LogChannel LogReason = "channel"
	LogAuth    LogReason = "auth"
	// LogSource is moat's: a login with the right password from an address its user is restricted from.
	LogSource LogReason = "source"
	// LogLockout is moat's: a login refused because its user, or its address, is locked out after
	// repeated failed logins (answered as a wrong password, whatever the password).
	LogLockout LogReason = "lockout"
)

// LogContext is where the denied command ran.
type LogContext string

// ACL LOG contexts (7.0.15).
const (
	ContextTopLevel LogContext = "toplevel"
	ContextMulti    LogContext = "multi"
	ContextLua      LogContext = "lua"
	ContextModule   LogContext = "module"
)

// LogEntry is one ACL LOG entry. ACL LOG replies with these 7 fields, in this order, as a map: count
// (integer), reason, context, object, username (bulk strings), age-seconds (a double: seconds since the
// entry was last updated, with milliseconds), client-info (bulk string, CLIENT LIST format).
type LogEntry struct {
	Count      int
	Reason     LogReason
	Context    LogContext
	Object     string // command full name, key, channel, or for auth the command name as typed
	Username   string // the user that was denied, or for auth the name tried
	ClientInfo string // the client as CLIENT LIST shows it, filled by the gateway
	Time       time.Time
}

// AgeSeconds is the entry's age-seconds field at now.
func (e LogEntry) AgeSeconds(now time.Time) float64 {
	return float64(now.Sub(e.Time).Milliseconds()) / 1000
}

// DeniedEntry builds the log entry for a denied command (addACLLogEntry): the reason and object come
// from the decision. The gateway supplies the username, context and client info.
func DeniedEntry(d Decision, args [][]byte, username string, ctx LogContext, clientInfo string, now time.Time) LogEntry {
	return LogEntry{
		Count:      1,
		Reason:     LogReason(d.Reason.String()),
		Context:    ctx,
		Object:     d.Object(args),
		Username:   username,
		ClientInfo: clientInfo,
		Time:       now,
	}
}

// AuthEntry builds the log entry for a failed AUTH or HELLO AUTH: object is the command name as typed
// ("AUTH", "hello"), username the name tried.
func AuthEntry(commandAsTyped, username string, ctx LogContext, clientInfo string, now time.Time) LogEntry {
	return LogEntry{Count: 1, Reason: LogAuth, Context: ctx, Object: commandAsTyped, Username: username,
		ClientInfo: clientInfo, Time: now}
}

// Log is the ACL LOG of one instance: newest first, at most MaxLen entries, with Redis's grouping. It is
// safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	maxLen  int
	entries []LogEntry // newest first
}

// Redis's grouping rule: an entry like one of the 10 newest within 60 s updates it.
const (
	logGroupScan  = 10
	logGroupDelta = 60 * time.Second
	// DefaultLogMaxLen is acllog-max-len's default.
	DefaultLogMaxLen = 128
)

// NewLog returns an empty log keeping at most maxLen entries (acllog-max-len; < 0 means the default).
func NewLog(maxLen int) *Log {
	if maxLen < 0 {
		maxLen = DefaultLogMaxLen
	}
	return &Log{maxLen: maxLen}
}

// SetMaxLen changes acllog-max-len; the log is trimmed at the next Add, as in Redis.
func (l *Log) SetMaxLen(n int) {
	l.mu.Lock()
	l.maxLen = max(n, 0)
	l.mu.Unlock()
}

// Add records an entry (addACLLogEntry): when one of the 10 newest entries has the same reason,
// context, object and username and is within 60 s of it, that entry's count goes up, it takes the new
// time and client info, and moves to the head; otherwise e is added at the head and the log is trimmed.
func (l *Log) Add(e LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.entries) && i < logGroupScan; i++ {
		cur := l.entries[i]
		delta := cur.Time.Sub(e.Time)
		if delta < 0 {
			delta = -delta
		}
		if cur.Reason == e.Reason && cur.Context == e.Context && delta <= logGroupDelta &&
			cur.Object == e.Object && cur.Username == e.Username {
			cur.Count++
			cur.Time, cur.ClientInfo = e.Time, e.ClientInfo
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = cur
			return
		}
	}
	if e.Count < 1 {
		e.Count = 1
	}
	l.entries = append(l.entries, LogEntry{})
	copy(l.entries[1:], l.entries)
	l.entries[0] = e
	if len(l.entries) > l.maxLen {
		clear(l.entries[l.maxLen:])
		l.entries = l.entries[:l.maxLen]
	}
}

// Entries returns up to count entries, newest first (ACL LOG [count]; the default count is 10, a negative
// one gives none).
func (l *Log) Entries(count int) []LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	count = min(max(count, 0), len(l.entries))
	return append([]LogEntry(nil), l.entries[:count]...)
}

// Reset is ACL LOG RESET.
func (l *Log) Reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// Len is the number of entries.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
