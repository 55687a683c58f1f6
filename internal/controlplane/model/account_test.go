package model

import (
	"errors"
	"strings"
	"testing"
)

// The account rules at their edges: names of 2 and 16, passwords of 8 and 32 with three kinds of
// characters (any three), descriptions of 2 and 256 letters, in any script.
func TestAccountRules(t *testing.T) {
	for _, tc := range []struct {
		what string
		err  error
		want error
	}{
		{"name of 2", CheckAccountName("a1"), nil},
		{"name of 16", CheckAccountName("a" + strings.Repeat("b_", 7) + "c"), nil},
		{"name of 17", CheckAccountName("a" + strings.Repeat("b", 16)), ErrAccountName},
		{"reserved", CheckAccountName("admin"), ErrAccountReserved},
		{"password of 8", CheckAccountPassword("Abcdef1_"), nil},
		{"password of 32", CheckAccountPassword("Ab1" + strings.Repeat("x", 29)), nil},
		{"upper, digits, specials", CheckAccountPassword("ABCD12!@"), nil},
		{"lower, digits, specials", CheckAccountPassword("abcd12+="), nil},
		{"two kinds", CheckAccountPassword("ABCDabcd"), ErrAccountPassword},
		{"a colon", CheckAccountPassword("Abcd123:"), ErrAccountPassword},
		{"description of 2", CheckAccountDescription("ab"), nil},
		{"description of 256", CheckAccountDescription("a" + strings.Repeat("-", 255)), nil},
		{"description in Chinese", CheckAccountDescription("订单服务_1"), nil},
		{"no description", CheckAccountDescription(""), nil},
		{"description with a dot", CheckAccountDescription("v1.2"), ErrAccountDescription},
	} {
		if (tc.want == nil) != (tc.err == nil) || (tc.want != nil && !errors.Is(tc.err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.what, tc.err, tc.want)
		}
	}
	if role, err := CheckAccountPrivilege(""); role != RoleReadWrite || err != nil {
		t.Errorf("no AccountPrivilege: %s %v, want RoleReadWrite", role, err)
	}
	if err := CheckAccountPassword("Abc 1234_secret"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a bad password's error repeats it: %v", err)
	}
}
