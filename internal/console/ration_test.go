package console_test

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/console"
)

// postLogin posts a password login to the console from source address src (127.0.0.x) on its own
// connection, and returns the status code and body.
func (e *env) postLogin(src, password string) (int, string) {
	e.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c := http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", e.srv.URL+"/console/login", strings.NewReader(url.Values{"method": {"password"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	res, err := c.Do(req)
	if err != nil {
		e.t.Errorf("login from %s: %v", src, err)
		return 0, ""
	}
	return res.StatusCode, readAll(e.t, res)
}

// Issue 16, finding 3: the limiter checked "blocked?" before hashing and counted the failure after, so
// 200 concurrent wrong passwords from one address were all evaluated. Now each attempt is counted
// before it is evaluated: 5 are evaluated (401), 195 are answered 429 without hashing.
func TestConcurrentGuessesAreCountedBeforeHashing(t *testing.T) {
	e := newEnvWith(t, func(c *console.Config) { c.HashQueue = 200 }) // the queue is not what limits here
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			code, _ := e.postLogin("127.0.0.2", "guess")
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != 5 || codes[http.StatusTooManyRequests] != 195 || e.console.PasswordChecks() != 5 {
		t.Fatalf("200 concurrent wrong passwords: responses %v, %d evaluated; want 5×401, 195×429, 5 evaluated", codes, e.console.PasswordChecks())
	}
}

// A blocked address is answered 429 even with the right password, without it being checked, until its
// block expires; then the right password logs in.
func TestBlockedAddressLogsInOnlyAfterTheBlock(t *testing.T) {
	e := newEnvWith(t, func(c *console.Config) { c.HashQueue = 10 }) // a burst of 11 checks: not what limits here
	for range 5 {
		if code, _ := e.postLogin("127.0.0.3", "guess"); code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", code)
		}
	}
	before := e.console.PasswordChecks()
	if code, body := e.postLogin("127.0.0.3", e.password); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("right password while blocked: %d, want 429", code)
	}
	if e.console.PasswordChecks() != before {
		t.Fatal("a blocked address's password was evaluated")
	}
	if code, _ := e.postLogin("127.0.0.4", e.password); code != http.StatusSeeOther {
		t.Fatalf("another address: %d, want 303 (logged in)", code)
	}
	e.clock.add(12 * time.Second)
	if code, _ := e.postLogin("127.0.0.3", e.password); code != http.StatusSeeOther {
		t.Fatalf("right password once the block expired: %d, want 303 (logged in)", code)
	}
}

// Issue 16, finding 2: every login attempt ran PBKDF2, so a stranger rotating addresses could keep every
// core busy. Now at most HashParallel derivations run, HashQueue wait and HashRate start a second after
// a burst of both: a flood from 40 addresses at one instant is answered 429 "in progress" beyond that
// burst (3), before any hashing, and only what was evaluated was hashed.
func TestPasswordHashingIsRationed(t *testing.T) {
	e := newEnvWith(t, func(c *console.Config) { c.HashParallel, c.HashQueue, c.PasswordIterations = 1, 2, 50_000 })
	codes := map[int]int{}
	busy := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			code, body := e.postLogin("127.0.1."+strconv.Itoa(i+1), "guess")
			mu.Lock()
			codes[code]++
			if code == http.StatusTooManyRequests && strings.Contains(body, "Too many logins in progress") {
				busy++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusUnauthorized] != 3 || busy != 37 || e.console.PasswordChecks() != 3 {
		t.Fatalf("40 concurrent logins from 40 addresses: responses %v (%d turned away as busy), %d evaluated; want 3 evaluated (401), 37 turned away",
			codes, busy, e.console.PasswordChecks())
	}
	// Turned away as busy is not a failure: those addresses still have all their attempts.
	e.clock.add(2 * time.Second) // one more check (HashRate 0.5)
	if code, _ := e.postLogin("127.0.1.1", e.password); code != http.StatusSeeOther {
		t.Fatalf("right password after the flood: %d", code)
	}
}
