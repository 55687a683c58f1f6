package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/allowlist"
	"github.com/moat-dev/moat/internal/gateway"
)

// logBuffer collects the JSON log lines of a gateway; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// refusals returns the "connection refused" records logged so far, in order.
func (l *logBuffer) refusals(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := append([]byte(nil), l.b.Bytes()...)
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if rec["msg"] == "connection refused" {
			out = append(out, rec)
		}
	}
	return out
}

// withLog sends the gateway's log to h.
func withLog(h slog.Handler) envOption {
	return func(c *gateway.Config) { c.Log = slog.New(h) }
}

// A scan of refused connections cannot flood the log: 500 refusals in a burst log only a handful of
// lines, a later line says how many were not logged, and the metric counts every one of them.
func TestRefusalLogIsSampledAndCountsTheRest(t *testing.T) {
	const flood = 500
	const from = "127.0.0.77" // refused: only 127.0.0.2 is whitelisted
	var logs logBuffer
	e := newEnv(t, compile([]allowlist.Group{group(t, "local", "127.0.0.2")}),
		withLog(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	refuse := func() {
		t.Helper()
		c := dial(t, e.addr, from)
		c.expect(illegalAddress)
		c.expectEOF(replyTimeout)
		c.c.Close()
	}
	// Refusals are logged on the accept goroutine before the reply is written, so once a client has its
	// reply the line for its connection (if any) is in the buffer.
	start := time.Now()
	for range flood {
		refuse()
	}
	elapsed := time.Since(start)
	during := logs.refusals(t)
	// The limiter allows a burst of 10 and then about one a second.
	if limit := 10 + int(math.Ceil(elapsed.Seconds())) + 1; len(during) == 0 || len(during) > limit {
		t.Fatalf("%d refusals in %v logged %d lines, want 1..%d", flood, elapsed.Round(time.Millisecond), len(during), limit)
	}
	for _, rec := range during {
		if rec["client"] == nil || rec["reason"] != gateway.ReasonIllegalAddress || rec["instance"] != "r-test" || rec["level"] != "WARN" {
			t.Fatalf("refusal line lacks the client, reason or instance: %v", rec)
		}
	}

	// Keep knocking, slowly, until the limiter lets a line through again: that line carries the count of
	// every refusal since the last logged one.
	total := flood
	deadline := time.Now().Add(10 * time.Second)
	var all []map[string]any
	for {
		refuse()
		total++
		if all = logs.refusals(t); len(all) > len(during) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged for 10 s after the flood (%d refusals)", total)
		}
		time.Sleep(50 * time.Millisecond) // pacing the knocks, not synchronisation
	}
	later := all[len(all)-1]
	notLogged, ok := later["not_logged_since_last"].(float64)
	if !ok || notLogged <= 0 {
		t.Fatalf("the line after the flood does not count the refusals not logged: %v", later)
	}
	// Every refusal is either a line or counted in the next line, exactly once.
	accounted := 0
	for _, rec := range all {
		n, ok := rec["not_logged_since_last"].(float64)
		if !ok {
			t.Fatalf("refusal line without not_logged_since_last: %v", rec)
		}
		accounted += 1 + int(n)
	}
	if accounted != total {
		t.Fatalf("%d lines account for %d refusals, %d were made", len(all), accounted, total)
	}
	if got := e.refused(gateway.ReasonIllegalAddress); got != float64(total) {
		t.Fatalf("moat_connections_refused_total{reason=illegal_address} = %v, want %d", got, total)
	}
}
