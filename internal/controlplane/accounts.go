package controlplane

import (
	"strings"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// Privilege is the R-kvstore AccountPrivilege a user's rules amount to, with the rules to show beside
// it: RoleReadOnly or RoleReadWrite and the role's own rules (model.RoleRules) when the user's keys,
// channels and commands are exactly the role's and it has no further selectors, whatever its flags and
// passwords; otherwise RoleCustom and PrivilegeDetail. Permissions are compared as ACL LIST regenerates
// them, so rules spelt differently with the same effect count as the role.
func Privilege(us *acl.Users, u *acl.User) (role, rules string) {
	got := u.Info()
	if len(got.Selectors) == 0 {
		for _, role := range []string{model.RoleReadWrite, model.RoleReadOnly} {
			rules, _ := model.RoleRules(role)
			ref := acl.NewUsers(us.Table(), us.Config())
			if err := ref.SetUser("role", rules...); err != nil {
				continue // the roles' rules are constant and tested
			}
			if ref.Get("role").Info().SelectorInfo == got.SelectorInfo {
				return role, strings.Join(rules, " ")
			}
		}
	}
	return model.RoleCustom, PrivilegeDetail(u)
}

// PrivilegeDetail is the user's rules without its flags and passwords: keys, channels, commands and
// selectors, as ACL LIST shows them ("~* &* +@all -@dangerous +info").
func PrivilegeDetail(u *acl.User) string {
	words := strings.Split(u.Describe(), " ")
	i := 0
	for i < len(words) && isFlagWord(words[i]) {
		i++
	}
	return strings.Join(words[i:], " ")
}

// isFlagWord reports the words ACL LIST writes before a user's selector: flags and password hashes.
func isFlagWord(w string) bool {
	switch w {
	case "on", "off", "nopass", "skip-sanitize-payload", "sanitize-payload":
		return true
	}
	return strings.HasPrefix(w, "#")
}
