// Package acl is moat's Redis 7.0 ACL engine: the command table, the ACL SETUSER rule language, users,
// the permission check, and the texts and data of the ACL commands, all with redis-server 7.0.15's
// semantics and exact replies (reference: shared/reference/redis-security.md §0–§2). It is pure: no
// network, no storage, no clock of its own; the gateway and the control plane call it.
//
// # Command table
//
// A Table lists every command and subcommand with arity, flags, key specs and ACL categories. The gateway
// loads it from the backend's COMMAND reply when it has one (ReadCommandReply / FromCommandReply), else
// uses LoadDefault: commands.json, generated once from redis-server 7.0.15 by ./gen and committed as data.
// To regenerate (only for a new reference version): `cd internal/acl && go generate`, which starts a
// redis-server from PATH on a free port (or use `go run ./gen -addr host:port`) and refuses any version
// but 7.0.15 unless told otherwise. What COMMAND cannot say is kept in special.go by command name: the
// channel positions of the pub/sub commands, and the commands that find their own keys (SET … GET,
// BITFIELD, SORT, MIGRATE, GEORADIUS, XREAD, the numkeys commands). Table.Resolve gives the
// unknown-command, unknown-subcommand and arity replies, which come before NOAUTH.
//
// # Users
//
// Users is one instance's user set (always with "default"). SetUser applies ACL SETUSER rules
// atomically and fails with Redis's exact reply; DelUser, Authenticate (constant-time SHA-256),
// SetRequirePass, DryRun, List (ACL LIST), Names (ACL USERS), User.Info (ACL GETUSER) and
// ParseACLFile / Users.ACLFile (ACL LOAD / ACL SAVE) complete the ACL commands. Users are compiled
// against a Table; Rebind moves them to another one. A *User is immutable: SetUser replaces it, so
// a connection can hold its user and check without locks. Users itself has one writer; publish Clones.
//
// # Checking a command
//
//	cmd, cerr := table.Resolve(args) // unknown command / arity: cerr.Reply
//	… NOAUTH …
//	d := user.Check(cmd, args)      // 0 allocations
//	if !d.Allowed() { reply "-" + d.Reply(); log.Add(acl.DeniedEntry(d, args, user.Name(), ctx, info, now)) }
//	if msg := user.SortDenied(cmd, args); msg != "" { reply "-" + msg } // SORT BY/GET, after Check
//
// Check follows ACLCheckAllUserCommandPerm: any one selector must allow the command and all of its keys
// and channels; otherwise the denial ranked highest (command < key < channel, then the later argument)
// is reported. Config.ScriptsNeedAllKeys adds moat's rule for scripts when the backend does not hold the
// users' identities (gateway/identity.go). Decision gives the NOPERM reply, the ACL LOG object, the ACL
// DRYRUN text and the text EXEC uses when rules changed after queuing. Log keeps ACL LOG entries with
// Redis's grouping.
//
// # Fidelity
//
// The tests compare with a real redis-server 7.0.15 (internal/redistest): the committed table against a
// live COMMAND reply; key extraction against COMMAND GETKEYSANDFLAGS; glob matching against KEYS; rule
// errors, ACL LIST, ACL GETUSER, ACL DRYRUN, ACL LOAD/SAVE and ACL LOG against the server's own answers
// for hundreds of generated users and tens of thousands of generated commands. The one deliberate
// difference: redis-server lists single-command rules in its hash-table order, moat in name order.
//
// It is a leaf: it imports no other moat package, so that the gateway, the snapshot and the control plane all
// judge with the same engine.
package acl
