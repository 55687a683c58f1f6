package gateway

import (
	"net"
	"testing"
	"time"
)

// The move gate (ready.go): shared submissions wait for every move begun before them, and for nothing
// once the moves ended; moves take their turn in the order they began.
func TestMoveGateHoldsSubmissionsUntilMovesEnd(t *testing.T) {
	var g moveGate
	done := make(chan struct{})
	if !g.wait(done) {
		t.Fatal("wait with no move under way did not return true")
	}
	g.begin()
	second := make(chan struct{})
	go func() { g.begin(); close(second) }() // waits for its turn
	waited := make(chan bool, 1)
	go func() { waited <- g.wait(done) }()
	select {
	case <-waited:
		t.Fatal("a submission went ahead of a move under way")
	case <-second:
		t.Fatal("a second move took its turn before the first ended")
	case <-time.After(20 * time.Millisecond):
	}
	g.end()
	<-second
	select {
	case <-waited:
		t.Fatal("a submission went ahead of a move still waiting for its turn when the first ended")
	case <-time.After(20 * time.Millisecond):
	}
	g.end()
	if !<-waited {
		t.Fatal("wait returned false with done open")
	}
	g.begin()
	close(done)
	if g.wait(done) {
		t.Fatal("wait returned true for a closing session while a move was under way")
	}
	g.end()
}

// BenchmarkMoveGateWait is what the gate costs a shared-lane batch while no move is under way.
func BenchmarkMoveGateWait(b *testing.B) {
	var g moveGate
	done := make(chan struct{})
	b.ReportAllocs()
	for range b.N {
		g.wait(done)
	}
}

// BenchmarkMoveGateWaitParallel is the same from every core at once.
func BenchmarkMoveGateWaitParallel(b *testing.B) {
	var g moveGate
	done := make(chan struct{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.wait(done)
		}
	})
}

// A ready connection the backend closed, or sent something on, is not used.
func TestReadyConnectionOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialPair := func() (client, server net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	c, s := dialPair()
	if !open(c) {
		t.Error("a fresh connection is not open")
	}
	s.Write([]byte("+x\r\n"))
	time.Sleep(20 * time.Millisecond) // loopback delivers at once; leave it a moment on a loaded machine
	if open(c) {
		t.Error("a connection the backend sent something on is open")
	}
	c.Close()
	s.Close()
	c, s = dialPair()
	s.Close()
	time.Sleep(20 * time.Millisecond)
	if open(c) {
		t.Error("a connection the backend closed is open")
	}
	c.Close()
}
