package model

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/moat-dev/moat/internal/allowlist"
)

// Account is what the R-kvstore account actions keep about an ACL user besides its rules.
type Account struct {
	Description string `json:"description,omitempty"`
}

// ErrUserSource wraps every problem with a user's source restriction.
var ErrUserSource = errors.New("invalid user source")

// MaxUserSources bounds the entries of one user's source restriction.
const MaxUserSources = 1000

// validateSources checks UserSources: every entry is an address or block (W3's syntax, canonical form)
// or the name of one of the instance's whitelist groups; no duplicates; at most MaxUserSources.
func (in Instance) validateSources() []error {
	groups := map[string]bool{}
	for _, g := range in.Groups {
		groups[g.Name] = true
	}
	names := make([]string, 0, len(in.UserSources))
	for n := range in.UserSources {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs []error
	for _, user := range names {
		list := in.UserSources[user]
		if len(list) == 0 {
			errs = append(errs, fmt.Errorf("user %q: an empty source restriction (remove it to allow every address): %w", user, ErrUserSource))
		}
		if len(list) > MaxUserSources {
			errs = append(errs, fmt.Errorf("user %q: %d sources, at most %d: %w", user, len(list), MaxUserSources, ErrUserSource))
		}
		seen := map[string]bool{}
		for _, e := range list {
			if seen[e] {
				errs = append(errs, fmt.Errorf("user %q: source %q listed twice: %w", user, e, ErrUserSource))
			}
			seen[e] = true
			if groups[e] {
				continue
			}
			if _, err := allowlist.ParseEntry(e); err != nil {
				errs = append(errs, fmt.Errorf("user %q: source %q is neither an address or block nor a whitelist group of the instance (%v): %w", user, e, err, ErrUserSource))
			}
		}
	}
	return errs
}

// Account privileges (R-kvstore's AccountPrivilege) and the ACL rules each stands for. RoleCustom is
// what DescribeAccounts shows for a user whose rules are neither role's (the default user's "+@all",
// rules set with ACL SETUSER or ModifyACLUser); it cannot be granted.
const (
	RoleReadOnly  = "RoleReadOnly"
	RoleReadWrite = "RoleReadWrite"
	RoleCustom    = "RoleCustom"
)

// AccountTypeNormal is the only AccountType (R-kvstore's standard account).
const AccountTypeNormal = "Normal"

// roleRules are the ACL SETUSER rules of each role, after "on" and the password. Both roles see every
// key and channel and no command of @dangerous (ACL, CONFIG, DEBUG, MONITOR, SHUTDOWN, replication,
// FLUSHALL/FLUSHDB, KEYS, SORT, MIGRATE/RESTORE, SWAPDB, CLIENT KILL/LIST/PAUSE…) except INFO, which
// client libraries read on connect (BullMQ, for one, reads the server version from it) and which shows
// no data.
// RoleReadOnly has the commands of @read and @connection (AUTH, HELLO, PING, SELECT, CLIENT SETNAME…)
// and nothing that writes, publishes or runs a script.
var roleRules = map[string][]string{
	RoleReadWrite: {"~*", "&*", "+@all", "-@dangerous", "+info"},
	RoleReadOnly:  {"~*", "&*", "-@all", "+@read", "+@connection", "-@dangerous", "+info"},
}

// RoleRules returns the ACL rules of a grantable role (a fresh slice), or false.
func RoleRules(role string) ([]string, bool) {
	r, ok := roleRules[role]
	return append([]string(nil), r...), ok
}

// Sentinel errors of the account actions; messages wrap them with the offending value (never a
// password).
var (
	ErrAccountName        = errors.New("account name must be 2 to 16 characters of lowercase letters, digits and _, start with a lowercase letter and end with a lowercase letter or digit")
	ErrAccountReserved    = errors.New("account name is reserved")
	ErrAccountPassword    = errors.New("AccountPassword must be 8 to 32 characters of uppercase letters, lowercase letters, digits and the special characters !@#$%^&*()_+-=, with at least three of these four kinds")
	ErrAccountDescription = errors.New("AccountDescription must be 2 to 256 characters of letters, digits, _ and -, start with a letter, and not start with http:// or https://")
	ErrAccountPrivilege   = errors.New("AccountPrivilege must be RoleReadOnly or RoleReadWrite")
	ErrAccountType        = errors.New("AccountType must be Normal")
)

// reservedAccounts cannot be created by CreateAccount: the provider's system names, and "default",
// which always exists.
var reservedAccounts = map[string]bool{"root": true, "admin": true}

// CheckAccountName checks a new account's name: 2–16 characters of a-z, 0-9 and _, starting with a
// lowercase letter and ending with a lowercase letter or digit; not root or admin.
func CheckAccountName(name string) error {
	if len(name) < 2 || len(name) > 16 || !isLower(name[0]) || name[len(name)-1] == '_' {
		return fmt.Errorf("%q: %w", name, ErrAccountName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLower(c) && !('0' <= c && c <= '9') && c != '_' {
			return fmt.Errorf("%q: %w", name, ErrAccountName)
		}
	}
	if reservedAccounts[name] {
		return fmt.Errorf("%q: %w", name, ErrAccountReserved)
	}
	return nil
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// accountSpecials are the special characters an account password may hold.
const accountSpecials = "!@#$%^&*()_+-="

// CheckAccountPassword checks an account password. The error never holds the password.
func CheckAccountPassword(pass string) error {
	if len(pass) < 8 || len(pass) > 32 {
		return fmt.Errorf("%d characters: %w", len(pass), ErrAccountPassword)
	}
	var upper, lower, digit, special int
	for i := 0; i < len(pass); i++ {
		switch c := pass[i]; {
		case 'A' <= c && c <= 'Z':
			upper = 1
		case 'a' <= c && c <= 'z':
			lower = 1
		case '0' <= c && c <= '9':
			digit = 1
		case strings.IndexByte(accountSpecials, c) >= 0:
			special = 1
		default:
			return fmt.Errorf("character %d is not allowed: %w", i+1, ErrAccountPassword)
		}
	}
	if n := upper + lower + digit + special; n < 3 {
		return fmt.Errorf("%d kind(s) of characters: %w", n, ErrAccountPassword)
	}
	return nil
}

// CheckAccountDescription checks an account description; "" (none) is valid.
func CheckAccountDescription(d string) error {
	if d == "" {
		return nil
	}
	n := utf8.RuneCountInString(d)
	first, _ := utf8.DecodeRuneInString(d)
	if n < 2 || n > 256 || !unicode.IsLetter(first) || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		return fmt.Errorf("%q: %w", d, ErrAccountDescription)
	}
	for _, r := range d {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			return fmt.Errorf("%q: %w", d, ErrAccountDescription)
		}
	}
	return nil
}

// CheckAccountPrivilege checks a role to grant: "" means RoleReadWrite.
func CheckAccountPrivilege(role string) (string, error) {
	if role == "" {
		return RoleReadWrite, nil
	}
	if _, ok := roleRules[role]; !ok {
		msg := fmt.Errorf("%q: %w", role, ErrAccountPrivilege)
		if role == "RoleRepl" {
			msg = fmt.Errorf("%q (replication) is not supported: moat does not relay SYNC or PSYNC: %w", role, ErrAccountPrivilege)
		}
		return "", msg
	}
	return role, nil
}

// CheckAccountType checks AccountType: "" or Normal.
func CheckAccountType(t string) error {
	if t != "" && t != AccountTypeNormal {
		return fmt.Errorf("%q: %w", t, ErrAccountType)
	}
	return nil
}
