package gateway_test

import (
	"slices"
	"testing"
)

// AUTH and ACL inside MULTI are queued and run at EXEC, their replies in their place in EXEC's array,
// and the commands after them are judged again at EXEC as the user the connection then is ("ACLs rules
// changed …"): byte for byte as redis-server 7.0.15, and with the same ACL LOG entries.
func TestACLAndAuthInMultiMatchRedis(t *testing.T) {
	t.Parallel()
	e := &aclEnv{env: newPublishingEnv(t, aclUsers), oracle: aclOracle(t, aclUsers)}
	scripts := []struct{ name, script string }{
		{"AUTH queued, later commands judged as its user", cmd("AUTH", "defpw") + cmd("MULTI") + cmd("SET", "other", "0") +
			cmd("AUTH", "alice", "apw") + cmd("ACL", "WHOAMI") + cmd("SET", "app:1", "v") + cmd("SET", "other", "v") +
			cmd("FLUSHALL") + cmd("PUBLISH", "news.1", "m") + cmd("PUBLISH", "x", "m") + cmd("SORT", "app:l", "BY", "w*") +
			cmd("GET", "app:1") + cmd("EXEC") + cmd("ACL", "WHOAMI") + cmd("GET", "other")},
		{"AUTH failures inside MULTI", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH", "alice", "wrong") +
			cmd("AUTH", "a", "b", "c", "d") + cmd("AUTH", "nobody", "x") + cmd("ACL", "WHOAMI") + cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"AUTH without arguments dooms it", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH") + cmd("AUTH", "bob", "x") +
			cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"discarded", cmd("AUTH", "alice", "apw") + cmd("MULTI") + cmd("AUTH", "admin", "adminpw") + cmd("DISCARD") +
			cmd("ACL", "WHOAMI") + cmd("GET", "other")},
		{"ACL changes inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "eve", "on", ">epw", "~e:*", "+get") +
			cmd("ACL", "GETUSER", "eve") + cmd("ACL", "DRYRUN", "eve", "GET", "x") + cmd("AUTH", "eve", "epw") + cmd("GET", "e:1") +
			cmd("GET", "x") + cmd("SET", "e:1", "v") + cmd("ACL", "WHOAMI") + cmd("EXEC") + cmd("ACL", "WHOAMI") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "eve")},
		{"own rules changed inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "admin", "-get") +
			cmd("GET", "x") + cmd("SET", "x", "1") + cmd("ACL", "SETUSER", "admin", "+get") + cmd("GET", "x") + cmd("EXEC")},
		{"ACL refused at queue time", cmd("AUTH", "bob", "x") + cmd("MULTI") + cmd("ACL", "WHOAMI") + cmd("ACL", "SETUSER", "bob", "+@all") +
			cmd("EXEC") + cmd("ACL", "WHOAMI")},
		{"ACL errors at EXEC", cmd("AUTH", "admin", "adminpw") + cmd("MULTI") + cmd("ACL", "SETUSER", "x y") + cmd("ACL", "CAT", "nope") +
			cmd("ACL", "GENPASS", "0") + cmd("ACL", "LOG", "RESET") + cmd("ACL", "USERS") + cmd("EXEC")},
		{"EXEC refused inside MULTI", cmd("AUTH", "admin", "adminpw") + cmd("ACL", "SETUSER", "fay", "on", ">fpw", "~*", "&*", "+@all") +
			cmd("AUTH", "fay", "fpw") + cmd("MULTI") + cmd("SET", "k", "1") + cmd("EXEC", "x") + cmd("GET", "k") + cmd("MULTI") +
			cmd("SET", "k", "2") + cmd("ACL", "SETUSER", "fay", "-exec") + cmd("EXEC") + cmd("EXEC") + cmd("GET", "k") +
			cmd("AUTH", "admin", "adminpw") + cmd("ACL", "DELUSER", "fay")},
		{"inline and pipelined", "AUTH alice apw\r\nMULTI\r\nAUTH admin adminpw\r\nSET other 1\r\nEXEC\r\nGET other\r\n"},
	}
	var logWant, logGot []string
	for _, sc := range scripts {
		e.flush(t)
		sameTranscript(t, e.oracle.Addr, e.addr, sc.name, sc.script)
		logWant = append(logWant, aclLogEntries(t, e.oracle.Addr, "127.0.0.1", "127.0.0.1")...)
		logGot = append(logGot, aclLogEntries(t, e.addr, "127.0.0.3", "127.0.0.2")...)
	}
	if len(logWant) == 0 || !slices.Equal(logGot, logWant) {
		t.Errorf("ACL LOG:\nredis: %q\nmoat:  %q", logWant, logGot)
	}
}
