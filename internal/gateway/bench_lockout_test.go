package gateway_test

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// benchLogin sends b.N AUTH alice <pass>, 16 to a write, and checks every wrong-password reply. With
// locked, alice's pair is locked out first and the password is the right one: the two benchmarks
// compare the answer to a wrong password with the answer during a lockout (which does the same
// credential work and discards it).
func benchLogin(b *testing.B, locked bool) {
	const depth = 16
	threshold, pass := 1<<30, "wrong"
	if locked {
		threshold, pass = 1, "apw"
	}
	s := withUsers(b, allowLoopback(b), aclUsers)
	s.AuthLockoutThreshold, s.AuthLockoutWindow, s.AuthLockoutDuration = threshold, time.Hour, time.Hour
	e := newEnv(b, s)
	c := dial(b, e.addr, "127.0.0.2")
	if got := c.do("AUTH", "alice", "wrong"); got != wrongPass {
		b.Fatalf("AUTH alice wrong: %q", got)
	}
	batch := bytes.Repeat([]byte(cmd("AUTH", "alice", pass)), depth)
	one := len(batch) / depth
	reply := make([]byte, len(wrongPass))
	c.c.SetDeadline(time.Now().Add(5 * time.Minute))

	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += depth {
		n := min(depth, b.N-sent)
		if _, err := c.c.Write(batch[:n*one]); err != nil {
			b.Fatalf("write: %v", err)
		}
		for range n {
			if _, err := io.ReadFull(c.br, reply); err != nil || string(reply) != wrongPass {
				b.Fatalf("reply %q, %v", reply, err)
			}
		}
	}
	b.StopTimer()
}

// BenchmarkLoginWrongPassword is AUTH with a wrong password, not locked out.
func BenchmarkLoginWrongPassword(b *testing.B) { benchLogin(b, false) }

// BenchmarkLoginLockedOut is AUTH with the right password while the pair is locked out.
func BenchmarkLoginLockedOut(b *testing.B) { benchLogin(b, true) }
