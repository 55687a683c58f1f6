package controlplane

import "testing"

// Issue 15.7: the permission to read password hashes is granted only by naming it; every wildcard a
// policy may hold, however close, leaves it out, while the wildcards keep granting everything else.
func TestSecretActionOnlyByName(t *testing.T) {
	tests := []struct {
		actions   []string
		instances []string
		instance  string
		want      bool
	}{
		{[]string{"*"}, []string{"*"}, "r-a", false},
		{[]string{"Describe*"}, []string{"*"}, "r-a", false},
		{[]string{"*Secrets"}, []string{"*"}, "r-a", false},
		{[]string{"DescribeACLUser*"}, []string{"*"}, "r-a", false},
		{[]string{"D*s", "*ACL*"}, []string{"*"}, "r-a", false},
		{[]string{"describeaclusersecrets"}, []string{"*"}, "r-a", false}, // action names are case-sensitive
		{[]string{"DescribeACLUserSecrets "}, []string{"*"}, "r-a", false},
		{[]string{"DescribeACLUserSecrets"}, []string{"*"}, "r-a", true},
		{[]string{"*", "DescribeACLUserSecrets"}, []string{"r-a"}, "r-a", true},
		{[]string{"DescribeACLUserSecrets"}, []string{"r-a"}, "r-b", false}, // named, but not on this instance
		{[]string{"DescribeACLUserSecrets"}, []string{"r-*"}, "r-b", true},
	}
	for _, tt := range tests {
		k := AccessKey{Actions: tt.actions, Instances: tt.instances}
		if got := k.Allows(ActionACLUserSecrets, tt.instance); got != tt.want {
			t.Errorf("policy %q on %q: Allows(%s, %s) = %v, want %v", tt.actions, tt.instances, ActionACLUserSecrets, tt.instance, got, tt.want)
		}
	}
	// Wildcards still grant the ordinary actions, DescribeACLUsers included.
	for _, p := range []string{"*", "Describe*", "DescribeACLUser*"} {
		if !(AccessKey{Actions: []string{p}, Instances: []string{"*"}}).Allows("DescribeACLUsers", "r-a") {
			t.Errorf("%q no longer grants DescribeACLUsers", p)
		}
	}
}
