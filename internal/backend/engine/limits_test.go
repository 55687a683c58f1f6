package engine

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// A string grown past 512 MiB is refused as Redis refuses it, from a client, from a script and inside
// MULTI (where the check runs at EXEC), and nothing is allocated for it: one such command would
// otherwise take moat's whole process down with it.
func TestStringsStayWithinRedisLimit(t *testing.T) {
	s := openT(t, shortDir(t))
	c := s.client(t)
	ctx := context.Background()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, tc := range []struct {
		args []any
		want string // the error, or "" for a success
	}{
		{[]any{"SETRANGE", "s", "600000000", "x"}, replyStringTooLong},
		{[]any{"SETRANGE", "s", "100000000000", "x"}, replyStringTooLong},
		{[]any{"SETRANGE", "s", "9223372036854775807", "x"}, replyStringTooLong},
		{[]any{"SETRANGE", "s", "536870911", "xy"}, replyStringTooLong},
		{[]any{"SETRANGE", "s", "600000000", ""}, ""},   // an empty value changes nothing
		{[]any{"SETRANGE", "new", "536870912", ""}, ""}, // nor creates a key
		{[]any{"SETRANGE", "new", "100", ""}, ""},
		{[]any{"SETRANGE", "s", "+600000000", "x"}, replyNotInteger}, // not an integer to Redis
		{[]any{"SETRANGE", "s", "0600000000", "x"}, replyNotInteger},
		{[]any{"SETRANGE", "s", "10", "x"}, ""},
		{[]any{"SETBIT", "b", "4294967296", "1"}, replyBitOffset},
		{[]any{"SETBIT", "b", "5000000000", "1"}, replyBitOffset},
		{[]any{"SETBIT", "b", "-1", "1"}, replyBitOffset},
		{[]any{"SETBIT", "b", "7", "1"}, ""},
		{[]any{"APPEND", "a", "x"}, ""},
		{[]any{"EVAL", "return redis.call('SETRANGE', KEYS[1], ARGV[1], 'x')", "1", "e", "600000000"}, replyStringTooLong},
		{[]any{"EVAL", "return redis.pcall('setbit', KEYS[1], '5000000000', 1)", "1", "e"}, replyBitOffset},
		{[]any{"LPUSH", "l", "v"}, ""},
		{[]any{"SETRANGE", "l", "600000000", "x"}, "WRONGTYPE"},
		{[]any{"APPEND", "l", "x"}, "WRONGTYPE"},
	} {
		err := c.Do(ctx, tc.args...).Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)): // a script's: wrapped
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if n := must(t, c, "STRLEN", "s"); n != int64(11) {
		t.Errorf("STRLEN s: %v, want 11 (the refused SETRANGEs changed nothing)", n)
	}
	if n := must(t, c, "EXISTS", "new"); n != int64(0) {
		t.Errorf("EXISTS new: %v, want 0 (SETRANGE of an empty value makes no key)", n)
	}
	pipe := c.TxPipeline()
	grow := pipe.SetRange(ctx, "t", 600000000, "x")
	bit := pipe.SetBit(ctx, "t2", 1<<32, 1)
	ok := pipe.Append(ctx, "t3", "x")
	pipe.Exec(ctx)
	if err := grow.Err(); err == nil || err.Error() != replyStringTooLong {
		t.Errorf("SETRANGE in MULTI: %v", err)
	}
	if err := bit.Err(); err == nil || err.Error() != replyBitOffset {
		t.Errorf("SETBIT in MULTI: %v", err)
	}
	if n, err := ok.Result(); err != nil || n != 1 {
		t.Errorf("APPEND in MULTI: %d, %v", n, err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
		t.Errorf("allocated %d MiB: a refused command allocated its size", grew>>20)
	}
}

// Counts the library would allocate for before it looks: LPOS's COUNT past the list's length is
// answered as COUNT 0 (the same matches), and a negative count of repeated random elements below
// -2^24 is refused, from a client and at EXEC; ordinary counts answer as before.
func TestCountsStayBounded(t *testing.T) {
	s := openT(t, shortDir(t))
	c := s.client(t)
	ctx := context.Background()
	must(t, c, "RPUSH", "l", "a", "b", "a")
	must(t, c, "HSET", "h", "f", "v")
	must(t, c, "SADD", "s", "m")
	must(t, c, "ZADD", "z", "1", "m")
	for _, count := range []string{"1152921504606846976", "9223372036854775807", "100000"} {
		if got, err := c.Do(ctx, "LPOS", "l", "a", "COUNT", count).Result(); err != nil || len(got.([]any)) != 2 {
			t.Errorf("LPOS COUNT %s: %v, %v", count, got, err)
		}
	}
	if got, err := c.Do(ctx, "LPOS", "nolist", "a", "COUNT", "1152921504606846976").Result(); err != nil || len(got.([]any)) != 0 {
		t.Errorf("LPOS on a missing key: %v, %v", got, err)
	}
	for _, args := range [][]any{
		{"HRANDFIELD", "h", "-9223372036854775808"}, {"HRANDFIELD", "h", "-20000000", "WITHVALUES"},
		{"ZRANDMEMBER", "z", "-1000000000000"}, {"SRANDMEMBER", "s", "-9223372036854775808"},
	} {
		if err := c.Do(ctx, args...).Err(); err == nil || err.Error() != replyOutOfRange {
			t.Errorf("%v: %v", args, err)
		}
	}
	if got, err := c.Do(ctx, "SRANDMEMBER", "s", "-5").Result(); err != nil || len(got.([]any)) != 5 {
		t.Errorf("SRANDMEMBER s -5: %v, %v", got, err)
	}
	pipe := c.TxPipeline()
	lpos := pipe.Do(ctx, "LPOS", "l", "a", "COUNT", "1152921504606846976")
	rnd := pipe.Do(ctx, "HRANDFIELD", "h", "-9223372036854775808")
	pipe.Exec(ctx)
	if got, err := lpos.Result(); err != nil || len(got.([]any)) != 2 {
		t.Errorf("LPOS in MULTI: %v, %v", got, err)
	}
	if err := rnd.Err(); err == nil || err.Error() != replyOutOfRange {
		t.Errorf("HRANDFIELD in MULTI: %v", err)
	}
}
