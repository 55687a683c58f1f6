package gateway_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// instanceGoroutines returns the goroutines labelled with label (and every goroutine they started: pprof
// labels are inherited) that run the gateway's code, as one line per stack, and how many there are.
// Goroutines of the test or of other packages (the backend's) are not counted.
func instanceGoroutines(t *testing.T, label string) (stacks []string, n int) {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(b.String(), "\n\n") {
		if !strings.Contains(block, `"`+label+`"`) || !strings.Contains(block, "moat/internal/gateway.") {
			continue
		}
		count, _, _ := strings.Cut(block, " @ ")
		count = count[strings.LastIndexByte(count, '\n')+1:] // the first block starts with the total
		k, err := strconv.Atoi(count)
		if err != nil {
			t.Fatalf("goroutine profile block %q: %v", block, err)
		}
		n += k
		stacks = append(stacks, block)
	}
	return stacks, n
}

// Every goroutine an instance starts — accept loops, sessions and their pumps, the shared lanes' writers
// and readers (RESP2 and RESP3), the ready pool's fill, the overflow lane dialled ahead of a long reply,
// the refusal pacer — has ended when Close returns: Close waits for them. The instance runs under a pprof
// label that every goroutine it starts inherits, so that other tests' instances running in parallel are
// not counted.
func TestCloseEndsEveryGoroutine(t *testing.T) {
	t.Parallel()
	label := "close-test-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	snap := allowLoopback(t)
	snap.SharedLanes = 2
	var e *env
	pprof.Do(context.Background(), pprof.Labels("moat_test", label), func(context.Context) {
		e = newEnv(t, snap)
	})
	plain := dial(t, e.addr, "127.0.0.2")
	if got := plain.do("SET", "big", strings.Repeat("v", 5<<20)); got != "+OK\r\n" {
		t.Fatalf("SET big: %q", got)
	}
	if got := plain.do("GET", "big"); len(got) < 5<<20 {
		t.Fatalf("GET big: %d bytes", len(got))
	}
	resp3 := dial(t, e.addr, "127.0.0.3")
	if got := resp3.do("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", truncate(got))
	}
	resp3.do("PING")
	moving := dial(t, e.addr, "127.0.0.4")
	if got := moving.do("SUBSCRIBE", "ch"); !strings.Contains(got, "subscribe") {
		t.Fatalf("SUBSCRIBE: %q", got)
	}
	stacks, n := instanceGoroutines(t, label)
	all := strings.Join(stacks, "\n")
	for _, want := range []string{"(*lane).read", "(*lane).write", "(*refusalPacer).run", "(*session).pump", "acceptLoop"} {
		if !strings.Contains(all, want) {
			t.Fatalf("no goroutine in %s among the instance's %d (the label is not inherited?):\n%s", want, n, all)
		}
	}

	e.gw.Close()
	// What is left when Close returns may only be finishing: past the point where what waits for it
	// counted it done, in the function it started with, with nothing of the gateway's called from there.
	finishing := map[string]bool{"(*Instance).spawn.func1": true, "(*Instance).admit.func1": true,
		"(*Instance).acceptLoop": true, "(*session).serve.func1": true}
	stacks, _ = instanceGoroutines(t, label)
	for _, st := range stacks {
		var fns []string
		for _, line := range strings.Split(st, "\n") {
			if _, fn, ok := strings.Cut(line, "moat/internal/gateway."); ok {
				fn, _, _ = strings.Cut(fn, "+")
				fns = append(fns, fn)
			}
		}
		if len(fns) != 1 || !finishing[fns[0]] {
			t.Errorf("a goroutine of the instance still in %s when Close returned:\n%s", strings.Join(fns, " ← "), st)
		}
	}
	var left []string
	if !eventually(10*time.Second, func() bool {
		left, n = instanceGoroutines(t, label)
		return n == 0
	}) {
		t.Fatalf("%d goroutines of the instance left after Close:\n%s", n, strings.Join(left, "\n\n"))
	}
}
