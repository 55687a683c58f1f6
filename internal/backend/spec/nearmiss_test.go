package spec

import (
	"strings"
	"testing"
)

// A backend spec that is almost a URL is refused without its password in the error (which the API
// answers and the failed-call audit keeps).
func TestMalformedSpecErrorHidesThePassword(t *testing.T) {
	for _, s := range []string{":LeakPW_nine@127.0.0.1:1", "redis:/:LeakPW_slash@127.0.0.1:1", "//:LeakPW_noscheme@127.0.0.1:1",
		"redis//u:LeakPW_x@h", "redis://:LeakPW_port@h:99999", "redis://:LeakPW_db@h/x"} {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("%q: parsed", s)
			continue
		}
		if strings.Contains(err.Error(), "LeakPW") {
			t.Errorf("%q: %v", s, err)
		}
	}
}
