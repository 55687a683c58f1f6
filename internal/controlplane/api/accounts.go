package api

import (
	"errors"

	"github.com/moat-dev/moat/internal/acl"
	"github.com/moat-dev/moat/internal/controlplane"
	"github.com/moat-dev/moat/internal/controlplane/model"
)

// The R-kvstore account actions (CreateAccount, DescribeAccounts, ModifyAccountDescription,
// ResetAccountPassword, GrantAccountPrivilege, DeleteAccount) manage the instance's ACL users with the
// provider's parameters: an account is an ACL user, its AccountPrivilege is a set of ACL rules
// (model.RoleRules) and its description is kept beside it (model.Account). Every change goes through
// Plane.ChangeAccounts: durable, audited and published before the answer. A password is turned into
// its SHA-256 hash (">pw" in ACL terms) before anything is stored, and no answer or error repeats it.

// accountView is one account as DescribeAccounts shows it (the SDK's r_kvstore.Account).
type accountView struct {
	AccountName        string
	AccountStatus      string // Available, or Unavailable for a user that is off
	AccountType        string
	AccountDescription string
	InstanceId         string
	DatabasePrivileges struct {
		DatabasePrivilege []privilegeView
	}
}

type privilegeView struct {
	AccountPrivilege       string // RoleReadOnly, RoleReadWrite or RoleCustom
	AccountPrivilegeDetail string // the role's rules, or the user's own without flags and passwords
}

// Errors of the account actions that are not the model's validation (errors.go maps those).
var (
	errAccountExists   = errors.New("account already exists")
	errAccountNotFound = errors.New("account not found")
)

func createAccount(c *call) (any, error) {
	id, name, err := c.instanceAndAccount()
	if err != nil {
		return nil, err
	}
	pass, err := c.required("AccountPassword")
	if err != nil {
		return nil, err
	}
	role, err := model.CheckAccountPrivilege(c.params.Get("AccountPrivilege"))
	desc := c.params.Get("AccountDescription")
	err = errors.Join(err, model.CheckAccountName(name), model.CheckAccountPassword(pass),
		model.CheckAccountDescription(desc), model.CheckAccountType(c.params.Get("AccountType")))
	if err != nil {
		return nil, err
	}
	rules, _ := model.RoleRules(role)
	err = c.h.plane.ChangeAccounts(c.actor, c.action, id, func(in *model.Instance, us *acl.Users) error {
		if us.Get(name) != nil {
			return accountExists(name)
		}
		if err := us.SetUser(name, append([]string{"on", ">" + pass}, rules...)...); err != nil {
			return err // the rules are constant and the password is checked: cannot happen
		}
		if desc != "" {
			in.Accounts[name] = model.Account{Description: desc}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// "AcountName" is the provider's spelling in CreateAccountResponse; AccountName is the newer one.
	return map[string]any{"InstanceId": id, "AcountName": name, "AccountName": name}, nil
}

func describeAccounts(c *call) (any, error) {
	id, in, us, err := c.instanceUsers()
	if err != nil {
		return nil, err
	}
	names := us.Names()
	if name := c.params.Get("AccountName"); name != "" {
		if us.Get(name) == nil {
			return nil, accountNotFound(name)
		}
		names = []string{name}
	}
	list := []accountView{}
	for _, n := range names {
		u := us.Get(n)
		v := accountView{AccountName: n, AccountStatus: "Available", AccountType: model.AccountTypeNormal,
			AccountDescription: in.Accounts[n].Description, InstanceId: id}
		if !u.Enabled() {
			v.AccountStatus = "Unavailable"
		}
		role, rules := controlplane.Privilege(us, u)
		v.DatabasePrivileges.DatabasePrivilege = []privilegeView{{role, rules}}
		list = append(list, v)
	}
	return map[string]any{"Accounts": map[string]any{"Account": list}}, nil
}

func modifyAccountDescription(c *call) (any, error) {
	id, name, desc, err := c.accountAnd("AccountDescription", model.CheckAccountDescription)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.changeAccount(id, name, func(in *model.Instance, _ *acl.Users) error {
		a := in.Accounts[name]
		a.Description = desc
		in.Accounts[name] = a
		return nil
	})
}

func resetAccountPassword(c *call) (any, error) {
	id, name, pass, err := c.accountAnd("AccountPassword", model.CheckAccountPassword)
	if err != nil {
		return nil, err
	}
	return map[string]any{}, c.changeAccount(id, name, func(_ *model.Instance, us *acl.Users) error {
		return us.SetUser(name, "resetpass", ">"+pass)
	})
}

func grantAccountPrivilege(c *call) (any, error) {
	id, name, err := c.instanceAndAccount()
	if err != nil {
		return nil, err
	}
	p, err := c.required("AccountPrivilege")
	if err != nil {
		return nil, err
	}
	role, err := model.CheckAccountPrivilege(p)
	if err != nil {
		return nil, err
	}
	rules, _ := model.RoleRules(role)
	// The user's permissions are replaced; its flags (on/off) and passwords stay.
	rules = append([]string{"resetkeys", "resetchannels", "clearselectors", "-@all"}, rules...)
	return map[string]any{}, c.changeAccount(id, name, func(_ *model.Instance, us *acl.Users) error {
		return us.SetUser(name, rules...)
	})
}

func deleteAccount(c *call) (any, error) {
	id, name, err := c.instanceAndAccount()
	if err != nil {
		return nil, err
	}
	if name == "default" {
		return nil, errDefaultAccount
	}
	return map[string]any{}, c.changeAccount(id, name, func(_ *model.Instance, us *acl.Users) error {
		_, err := us.DelUser(name)
		return err
	})
}

// instanceAndAccount reads the InstanceId and AccountName every account action takes.
// accountAnd reads InstanceId, AccountName and the required parameter param, which check validates.
func (c *call) accountAnd(param string, check func(string) error) (id, name, v string, err error) {
	if id, name, err = c.instanceAndAccount(); err != nil {
		return "", "", "", err
	}
	if v, err = c.required(param); err != nil {
		return "", "", "", err
	}
	if err = check(v); err != nil {
		return "", "", "", err
	}
	return id, name, v, nil
}

func (c *call) instanceAndAccount() (id, name string, err error) {
	if id, err = c.required("InstanceId"); err != nil {
		return "", "", err
	}
	name, err = c.required("AccountName")
	return id, name, err
}

// changeAccount is ChangeAccounts for an account that must exist (InvalidAccountName.NotFound).
func (c *call) changeAccount(id, name string, fn func(*model.Instance, *acl.Users) error) error {
	return c.h.plane.ChangeAccounts(c.actor, c.action, id, func(in *model.Instance, us *acl.Users) error {
		if us.Get(name) == nil {
			return accountNotFound(name)
		}
		return fn(in, us)
	})
}
