package controlplane

import (
	"fmt"
	"maps"
	"slices"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// Commands is the command table ACL users are compiled against: redis-server 7.0.15's (acl.LoadDefault),
// loaded once.
func (p *Plane) Commands() *acl.Table {
	p.tableOnce.Do(func() {
		t, err := acl.LoadDefault()
		if err != nil {
			// commands.json is embedded in the binary and tested: this cannot happen in a built moat.
			panic("controlplane: the embedded command table does not load: " + err.Error())
		}
		p.table = t
	})
	return p.table
}

// SetCommandTable makes t the command table instance id's users are compiled against from now on (the
// backend's COMMAND reply, which the data plane asks for when it starts the instance); nil goes back to
// redis-server 7.0.15's. The snapshot the plane compiles is then exactly the one the data plane serves:
// nothing rebinds users after publishing.
func (p *Plane) SetCommandTable(id string, t *acl.Table) {
	p.tablesMu.Lock()
	defer p.tablesMu.Unlock()
	if t == nil {
		delete(p.tables, id)
		return
	}
	if p.tables == nil {
		p.tables = map[string]*acl.Table{}
	}
	p.tables[id] = t
}

// commandsFor is instance id's command table: its own if set, else Commands.
func (p *Plane) commandsFor(id string) *acl.Table {
	p.tablesMu.Lock()
	t := p.tables[id]
	p.tablesMu.Unlock()
	if t == nil {
		return p.Commands()
	}
	return t
}

// ACLConfig is the server settings that shape an instance's users: acl-pubsub-default, and moat's rule
// that a user restricted by key or channel patterns may not run scripts (acl.Config.ScriptsNeedAllKeys):
// a script would run inside the backend with moat's backend login, where its undeclared keys go unchecked.
// The gateway lifts the rule while the backend holds the users' identities (gateway/identity.go).
func ACLConfig(in model.Instance) acl.Config {
	return acl.Config{AllChannels: in.Param("acl-pubsub-default") == "allchannels", ScriptsNeedAllKeys: true}
}

// Users compiles an instance's ACL users against its command table (SetCommandTable). Users whose rules
// name a command that table lacks (a backend older than 7.0.15) are compiled against redis-server
// 7.0.15's table instead, and this is logged: they keep their rules. The error is ACL LOAD's text for
// stored lines that compile against neither (which validation before every store prevents).
func (p *Plane) Users(in model.Instance) (*acl.Users, error) {
	return p.usersFrom(in, slices.Clone(in.ACL), nil)
}

// usersFrom is Users of lines (in.ACL or a copy; the result keeps them: never changed after) taking
// over from prev (nil: none) the users whose lines did not change, and reading only the lines that
// changed when prev was read from lines as well (acl.ReparseACLLines).
func (p *Plane) usersFrom(in model.Instance, lines []string, prev *acl.Users) (*acl.Users, error) {
	cfg := ACLConfig(in)
	t := p.commandsFor(in.ID)
	if len(lines) == 0 {
		return acl.NewUsers(t, cfg), nil
	}
	us, err := acl.ReparseACLLines(prev, t, cfg, "acl", lines)
	if err != nil && t != p.Commands() {
		if us, err = acl.ReparseACLLines(prev, p.Commands(), cfg, "acl", lines); err == nil && p.log != nil {
			p.log.Warn("ACL users judged with redis-server 7.0.15's command table: a rule names a command the backend lacks",
				"instance", in.ID, "backend_table", t.Source)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("instance %s: users: %w", in.ID, err)
	}
	return us, nil
}

// compiledUsers is Users for callers that only read the result (compiling a snapshot, validating a
// change): the instance's users as last compiled when its ACL lines and settings are unchanged, so that a
// whitelist or parameter change does not recompile thousands of users; when some lines changed, only
// their users are compiled again, and the result says which they are (acl.Users.ChangedFrom the last
// result), which the data plane's publish carries on to the backend identities. The result is shared:
// it must not be changed (ChangeAccounts changes a Clone). It keeps in.ACL as it is, not a copy (an
// instance's slices are immutable once stored): a change to one user among 10,000 then copies none of
// their lines.
func (p *Plane) compiledUsers(in model.Instance) (*acl.Users, error) {
	cfg := ACLConfig(in)
	p.usersMu.Lock()
	c, ok := p.users[in.ID]
	p.usersMu.Unlock()
	table := p.commandsFor(in.ID)
	if ok && c.cfg == cfg && c.table == table && sameSlice(c.lines, in.ACL) {
		return c.users, nil
	}
	us, err := p.usersFrom(in, in.ACL, c.users)
	if err != nil {
		return nil, err
	}
	p.usersMu.Lock()
	if p.users == nil {
		p.users = map[string]compiledUsers{}
	}
	p.users[in.ID] = compiledUsers{lines: in.ACL, cfg: cfg, table: table, users: us}
	p.usersMu.Unlock()
	return us, nil
}

// sameSlice reports whether a and b are the same slice (or both empty). Lines equal in another slice are
// found equal by usersFrom, which then returns the users as they were (acl.ReparseACLLines: one pass
// over the lines, not two).
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// compiledUsers is one instance's entry in Plane.users.
type compiledUsers struct {
	lines []string
	cfg   acl.Config
	table *acl.Table // the command table they were compiled against (SetCommandTable)
	users *acl.Users
}

// forgetUsers drops what compiledUsers and the allow sets' cache keep of a deleted instance.
func (p *Plane) forgetUsers(id string) {
	p.usersMu.Lock()
	delete(p.users, id)
	p.usersMu.Unlock()
	p.allowSets.forget(id)
}

// setUsers stores us in in.ACL: nothing when us is only the fresh default user.
func setUsers(in *model.Instance, us *acl.Users) {
	list := us.List()
	if slices.Equal(list, freshUsers) {
		list = nil
	}
	in.ACL = list
}

var freshUsers = []string{"user default on nopass ~* &* +@all"}

// ChangeUsers applies fn to the instance's users and stores the result, durably and audited as action,
// in one change: when fn fails nothing changes and its error (a Redis reply text for the ACL commands)
// is returned. The new users are published before ChangeUsers returns. What the instance keeps about a
// user beside its rules (Accounts, UserSources) goes with the user when fn deletes it.
func (p *Plane) ChangeUsers(a Actor, action, id string, fn func(*acl.Users) error) error {
	return p.ChangeAccounts(a, action, id, func(_ *model.Instance, us *acl.Users) error { return fn(us) })
}

// ChangeAccounts is ChangeUsers for changes that also touch what the instance keeps beside its users:
// fn gets the instance with its own copies of Accounts and UserSources (non-nil, free to change) and
// the compiled users. After fn, the entries of users that no longer exist are dropped. When fn fails
// nothing changes and its error is returned as is.
func (p *Plane) ChangeAccounts(a Actor, action, id string, fn func(in *model.Instance, us *acl.Users) error) error {
	_, err := p.update(a, action, id, func(in model.Instance) (model.Instance, error) {
		compiled, err := p.compiledUsers(in) // shared: fn changes a clone (users themselves are immutable)
		if err != nil {
			return in, err
		}
		us := compiled.Clone()
		in.Accounts = maps.Clone(in.Accounts)
		if in.Accounts == nil {
			in.Accounts = map[string]model.Account{}
		}
		in.UserSources = maps.Clone(in.UserSources)
		if in.UserSources == nil {
			in.UserSources = map[string][]string{}
		}
		if err := fn(&in, us); err != nil {
			return in, err
		}
		setUsers(&in, us)
		pruneAccounts(&in, us)
		return in, nil
	})
	return err
}

// pruneAccounts drops the account data and source restrictions of users that do not exist, and stores
// empty maps as nil (so that an unchanged instance compares equal).
func pruneAccounts(in *model.Instance, us *acl.Users) {
	maps.DeleteFunc(in.Accounts, func(name string, _ model.Account) bool { return us.Get(name) == nil })
	maps.DeleteFunc(in.UserSources, func(name string, _ []string) bool { return us.Get(name) == nil })
	if len(in.Accounts) == 0 {
		in.Accounts = nil
	}
	if len(in.UserSources) == 0 {
		in.UserSources = nil
	}
}

// moveRequirePass turns a requirepass parameter, from any source (ModifyInstanceConfig, the config file,
// CreateInstance), into the default user's password, as Redis does (§2.7): resetpass, then >password, or
// nopass for an empty one. The parameter leaves Params; its value is kept in RequirePass, for CONFIG GET
// requirepass (as Redis keeps server.requirepass).
func (p *Plane) moveRequirePass(in *model.Instance) error {
	pass, ok := in.Params["requirepass"]
	if !ok {
		return nil
	}
	us, err := p.Users(*in)
	if err != nil {
		return err
	}
	if err := us.SetRequirePass(pass); err != nil {
		return err
	}
	setUsers(in, us)
	params := maps.Clone(in.Params)
	delete(params, "requirepass")
	in.Params = params
	in.RequirePass = pass
	return nil
}

// UserSources compiles an instance's per-user source restrictions (A4): for each restricted user, the
// set of addresses it may log in from — its listed addresses and blocks (as a group named after the
// user) and the entries of the whitelist groups it names, with W6's rule for the 127.0.0.1 placeholder.
// Users without a restriction are absent. Set.Explain says which entry or group admits an address.
func UserSources(in model.Instance) map[string]*allowlist.Set {
	if len(in.UserSources) == 0 {
		return nil
	}
	byName := map[string]allowlist.Group{}
	for _, g := range in.Groups {
		byName[g.Name] = g
	}
	out := make(map[string]*allowlist.Set, len(in.UserSources))
	for user, list := range in.UserSources {
		own := allowlist.Group{Name: "user:" + user}
		var groups []allowlist.Group
		for _, e := range list {
			if g, ok := byName[e]; ok {
				groups = append(groups, g)
			} else if p, err := allowlist.ParseEntry(e); err == nil {
				own.Entries = append(own.Entries, p)
			}
		}
		out[user] = allowlist.Compile(append([]allowlist.Group{own}, groups...), nil)
	}
	return out
}
