package api

import (
	"errors"
	"strings"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
	"github.com/moat-dev/moat/internal/redact"
)

// moat's own ACL actions work on raw Redis 7 ACL users, beside the R-kvstore account actions
// (accounts.go) and on the same state: DescribeACLUsers, ModifyACLUser (ACL SETUSER), DeleteACLUser
// (ACL DELUSER), ImportACL and ExportACL (an aclfile, as ACL LOAD reads and ACL SAVE writes it) and
// ModifyAccountSources (A4: the addresses a user may log in from). Errors in rules carry Redis's own
// reply text, with any password in them masked.

// aclUserView is one user of DescribeACLUsers: ACL GETUSER's data, its source restriction, and what the
// account actions show of it. Passwords (and the hashes in ACLList) are given only to a key whose
// policy names controlplane.ActionACLUserSecrets; for every other key each is "xxxxx" and the answer's
// PasswordsRedacted is true.
type aclUserView struct {
	UserName  string
	Flags     []string
	Passwords []string // SHA-256 hashes, as ACL GETUSER gives them
	Commands  string
	Keys      string
	Channels  string
	Selectors []acl.SelectorInfo
	// Sources are the IPs, blocks and whitelist group names the user may log in from; empty: anywhere
	// the whitelist admits.
	Sources            []string
	AccountPrivilege   string
	AccountDescription string
}

func describeACLUsers(c *call) (any, error) {
	id, in, us, err := c.instanceUsers()
	if err != nil {
		return nil, err
	}
	names := us.Names()
	lines := us.List()
	if name := c.params.Get("UserName"); name != "" {
		u := us.Get(name)
		if u == nil {
			return nil, userNotFound(name)
		}
		names, lines = []string{name}, []string{"user " + name + " " + u.Describe()}
	}
	secrets := c.key.Allows(controlplane.ActionACLUserSecrets, id)
	if !secrets {
		lines = maskLines(lines)
	}
	users := []aclUserView{}
	for _, n := range names {
		u := us.Get(n)
		info := u.Info()
		if !secrets {
			for i := range info.Passwords {
				info.Passwords[i] = redact.Secret(redact.KindPassword, info.Passwords[i])
			}
		}
		sources := in.UserSources[n]
		if sources == nil {
			sources = []string{}
		}
		role, _ := controlplane.Privilege(us, u)
		users = append(users, aclUserView{
			UserName: n, Flags: info.Flags, Passwords: info.Passwords,
			Commands: info.Commands, Keys: info.Keys, Channels: info.Channels, Selectors: info.Selectors,
			Sources: sources, AccountPrivilege: role, AccountDescription: in.Accounts[n].Description,
		})
	}
	return map[string]any{"InstanceId": id, "ACLList": lines, "Users": map[string]any{"User": users},
		"PasswordsRedacted": !secrets}, nil
}

// maskLines returns ACL lines with their password hashes masked (redact.KindACLLine).
func maskLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = redact.Secret(redact.KindACLLine, l)
	}
	return out
}

// modifyACLUser is ACL SETUSER UserName Rules…: Rules are space-separated rules (a selector "(~k +get)"
// may span words, as in Redis), applied left to right, all or none. A missing user is created.
func modifyACLUser(c *call) (any, error) {
	id, name, err := c.instanceAndUser()
	if err != nil {
		return nil, err
	}
	rules := strings.Fields(c.params.Get("Rules"))
	err = c.h.plane.ChangeAccounts(c.actor, c.action, id, func(_ *model.Instance, us *acl.Users) error {
		if err := us.SetUser(name, rules...); err != nil {
			return ruleError(badRules, err, rules)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"InstanceId": id, "UserName": name}, nil
}

func deleteACLUser(c *call) (any, error) {
	id, name, err := c.instanceAndUser()
	if err != nil {
		return nil, err
	}
	if name == "default" {
		return nil, errDefaultUser
	}
	return map[string]any{}, c.h.plane.ChangeAccounts(c.actor, c.action, id, func(_ *model.Instance, us *acl.Users) error {
		if us.Get(name) == nil {
			return userNotFound(name)
		}
		_, err := us.DelUser(name)
		return err
	})
}

// importACL replaces every user of the instance with those of ACLFile (aclfile text, as ACL LOAD reads
// it), atomically: on any error nothing changes and the error is ACL LOAD's text, naming FileName
// (default "aclfile") and the line. Source restrictions and account data of users that remain are kept.
func importACL(c *call) (any, error) {
	id, err := c.required("InstanceId")
	if err != nil {
		return nil, err
	}
	text, err := c.required("ACLFile")
	if err != nil {
		return nil, err
	}
	file := c.params.Get("FileName")
	if file == "" {
		file = "aclfile"
	}
	n := 0
	err = c.h.plane.ChangeAccounts(c.actor, c.action, id, func(_ *model.Instance, us *acl.Users) error {
		loaded, err := acl.ParseACLFile(us.Table(), us.Config(), file, []byte(text))
		if err != nil {
			return ruleError(badACLFile, err, strings.Fields(text))
		}
		// ACL LOAD's swap: the set becomes the file's users, compiled against the same table and settings.
		*us = *loaded
		n = us.Len()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"InstanceId": id, "Users": n}, nil
}

// exportACL answers the users as an aclfile. Without ActionACLUserSecrets in the key's policy the
// password hashes are masked ("#xxxxx"), which ImportACL refuses: a masked file cannot silently
// become users without passwords.
func exportACL(c *call) (any, error) {
	id, _, us, err := c.instanceUsers()
	if err != nil {
		return nil, err
	}
	text := string(us.ACLFile())
	secrets := c.key.Allows(controlplane.ActionACLUserSecrets, id)
	if !secrets {
		text = strings.Join(maskLines(strings.Split(text, "\n")), "\n")
	}
	return map[string]any{"InstanceId": id, "ACLFile": text, "PasswordsRedacted": !secrets}, nil
}

// modifyAccountSources sets the addresses UserName may log in from (A4): Sources is a comma list of IP
// addresses, CIDR blocks and names of the instance's whitelist groups, without spaces; an empty Sources
// removes the restriction. AUTH as the user from any other address fails like a wrong password.
func modifyAccountSources(c *call) (any, error) {
	id, name, err := c.instanceAndUser()
	if err != nil {
		return nil, err
	}
	if _, ok := c.params["Sources"]; !ok {
		return nil, missing("Sources")
	}
	var sources []string
	if s := c.params.Get("Sources"); s != "" {
		sources = strings.Split(s, ",")
	}
	err = c.h.plane.ChangeAccounts(c.actor, c.action, id, func(in *model.Instance, us *acl.Users) error {
		if us.Get(name) == nil {
			return userNotFound(name)
		}
		if len(sources) == 0 {
			delete(in.UserSources, name)
		} else {
			in.UserSources[name] = sources
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sources == nil {
		sources = []string{}
	}
	return map[string]any{"InstanceId": id, "UserName": name, "Sources": sources}, nil
}

// instanceAndUser reads InstanceId and UserName; a user name cannot hold spaces or NUL (Redis's rule).
func (c *call) instanceAndUser() (id, name string, err error) {
	if id, err = c.required("InstanceId"); err != nil {
		return "", "", err
	}
	if name, err = c.required("UserName"); err != nil {
		return "", "", err
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r == 0 || r == ' ' || (r >= '\t' && r <= '\r') }) {
		return "", "", badUserName(name)
	}
	return id, name, nil
}

// ruleError turns Redis's reply to bad rules into the API error refuse builds (badRules, badACLFile),
// with every password rule of rules (">pw", "<pw") masked as ">***": the message reaches the caller
// and the audit log.
func ruleError(refuse func(reply string) *Error, err error, rules []string) error {
	var re *acl.ReplyError
	if !errors.As(err, &re) {
		return err
	}
	return refuse(maskPasswords(re.Reply, rules))
}

// maskPasswords replaces the clear passwords of rules (">pw", "<pw", also inside a selector's words)
// in s.
func maskPasswords(s string, rules []string) string {
	for _, r := range rules {
		r = strings.TrimLeft(r, "(")
		if len(r) > 1 && (r[0] == '>' || r[0] == '<') {
			s = strings.ReplaceAll(s, r, r[:1]+"***")
			if t := strings.TrimRight(r, ")"); len(t) > 1 && t != r {
				s = strings.ReplaceAll(s, t, t[:1]+"***")
			}
		}
	}
	return s
}

// instanceUsers reads the InstanceId parameter and returns that instance with its compiled users.
func (c *call) instanceUsers() (string, model.Instance, *acl.Users, error) {
	in, err := c.loadInstance()
	if err != nil {
		return "", model.Instance{}, nil, err
	}
	us, err := c.h.plane.Users(in)
	return in.ID, in, us, err
}
