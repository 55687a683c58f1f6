package model

import (
	"errors"
	"fmt"
	"sort"

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
