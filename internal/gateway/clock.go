package gateway

import "time"

// clock is the time the gateway's timed decisions go by (Config.Now): the brute-force lockout, the
// idle timeout and the pacing of refusals. Waits on it are real timers and socket deadlines; on an
// injected clock (a test's, moved by hand) they last at most clockPoll of real time and then read
// the clock again, so moving it takes effect at once. The zero value is the wall clock.
type clock struct {
	now func() time.Time // nil: time.Now
}

// clockPoll is how often a wait on an injected clock reads it again.
const clockPoll = 5 * time.Millisecond

// Now is the clock's time.
func (c clock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// step is how long of real time to wait for d to pass on the clock before reading it again.
func (c clock) step(d time.Duration) time.Duration {
	if c.now != nil && d > clockPoll {
		return clockPoll
	}
	return d
}

// waitUntil blocks until the clock reads t or later, or done closes.
func (c clock) waitUntil(t time.Time, done <-chan struct{}) {
	for {
		d := t.Sub(c.Now())
		if d <= 0 {
			return
		}
		timer := time.NewTimer(c.step(d))
		select {
		case <-timer.C:
		case <-done:
			timer.Stop()
			return
		}
	}
}
