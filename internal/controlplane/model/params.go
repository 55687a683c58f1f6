package model

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// ErrParam wraps every parameter error.
var ErrParam = errors.New("invalid parameter")

// Param describes one instance parameter.
type Param struct {
	Name    string
	Default string
	Help    string
	// Checking describes the accepted values, as the cloud API's CheckingCode does: "[yes|no]", "[0-100]".
	Checking string
	check    func(string) error
}

// Params are the instance parameters moat knows, by name. Names follow redis.conf where Redis has the
// setting.
var params = map[string]Param{
	"drop-on-revoke": {Name: "drop-on-revoke", Default: "no", Checking: "[yes|no]", check: checkYesNo,
		Help: "yes: when the whitelist changes, close established connections whose address is no longer allowed (within a second); no: they continue (W9)."},
	"timeout": {Name: "timeout", Default: "0", Checking: rangeText(0, 365*24*3600), check: checkRange(0, 365*24*3600),
		Help: "Close a client connection after this many seconds idle (0: never). Connections waiting on a reply, subscribed or monitoring are not idle."},
	"proto-max-bulk-len": {Name: "proto-max-bulk-len", Default: "536870912", Checking: rangeText(1024*1024, 512*1024*1024), check: checkRange(1024*1024, 512*1024*1024),
		Help: "Largest bulk argument a client may send, in bytes (1 MiB to 512 MiB)."},
	"proto-max-multibulk-len": {Name: "proto-max-multibulk-len", Default: "1048576", Checking: rangeText(1024, 1<<30), check: checkRange(1024, 1<<30),
		Help: "Most arguments in one command."},
	"proto-max-inline-len": {Name: "proto-max-inline-len", Default: "65536", Checking: rangeText(1024, 1024*1024), check: checkRange(1024, 1024*1024),
		Help: "Longest inline (telnet-style) command line and longest protocol header line, in bytes."},
}

// ParamNames returns the known parameter names, sorted.
func ParamNames() []string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupParam returns the description of a parameter.
func LookupParam(name string) (Param, bool) {
	p, ok := params[name]
	return p, ok
}

// CheckParam validates a value for a parameter.
func CheckParam(name, value string) error {
	p, ok := params[name]
	if !ok {
		return fmt.Errorf("parameter %q: unknown (known: %v): %w", name, ParamNames(), ErrParam)
	}
	if err := p.check(value); err != nil {
		return fmt.Errorf("parameter %q: value %q: %v: %w", name, value, err, ErrParam)
	}
	return nil
}

// Param returns the instance's value of a parameter, or its default.
func (in Instance) Param(name string) string {
	if v, ok := in.Params[name]; ok {
		return v
	}
	return params[name].Default
}

// ParamInt returns an integer parameter (validated values always parse).
func (in Instance) ParamInt(name string) int64 {
	n, _ := strconv.ParseInt(in.Param(name), 10, 64)
	return n
}

// ParamBool returns a yes/no parameter.
func (in Instance) ParamBool(name string) bool { return in.Param(name) == "yes" }

// IdleTimeout returns the "timeout" parameter as a duration.
func (in Instance) IdleTimeout() time.Duration {
	return time.Duration(in.ParamInt("timeout")) * time.Second
}

func rangeText(lo, hi int64) string { return fmt.Sprintf("[%d-%d]", lo, hi) }

func checkYesNo(v string) error {
	if v != "yes" && v != "no" {
		return errors.New("must be yes or no")
	}
	return nil
}

func checkRange(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		return nil
	}
}
