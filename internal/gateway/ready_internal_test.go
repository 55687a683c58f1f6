package gateway

import (
	"net"
	"testing"
	"time"
)

// The move gate (ready.go): commands wait for every move that arrived before them, and for nothing once
// those ended; moves take their turns in the order their commands arrived, whatever the order they
// began in.
func TestMoveGateOrdersByArrival(t *testing.T) {
	var g moveGate
	done := make(chan struct{})
	if !g.wait(1000, done) {
		t.Fatal("wait with no move under way did not return true")
	}
	g.begin(new(moveTurn), 100, 0) // has its turn at once
	began := func(at int64) <-chan struct{} {
		ch := make(chan struct{})
		go func() { g.begin(new(moveTurn), at, 0); close(ch) }()
		return ch
	}
	late := began(300)
	waitFor(t, &g, 2)
	early := began(200) // began after late, arrived before it
	waitFor(t, &g, 3)
	waited := make(chan bool, 1)
	go func() { waited <- g.wait(250, done) }()
	if !g.wait(50, done) {
		t.Fatal("a command that arrived before every move did not go ahead")
	}
	select {
	case <-waited:
		t.Fatal("a command went ahead of a move that arrived before it")
	case <-late:
		t.Fatal("a move took its turn before the one under way ended")
	case <-early:
		t.Fatal("a move took its turn before the one under way ended")
	case <-time.After(20 * time.Millisecond):
	}
	g.end()
	<-early // the one that arrived first, though it began last
	select {
	case <-late:
		t.Fatal("two moves had their turn at once")
	case <-waited:
		t.Fatal("a command went ahead of a move that arrived before it and has its turn")
	case <-time.After(20 * time.Millisecond):
	}
	g.end()
	if !<-waited { // the move left arrived after it
		t.Fatal("wait returned false with done open")
	}
	<-late
	g.end()
	if g.active.Load() {
		t.Fatal("the gate is active with no move left")
	}
	g.begin(new(moveTurn), 100, 0)
	close(done)
	if g.wait(1000, done) {
		t.Fatal("wait returned true for a closing session while a move was under way")
	}
	g.end()
}

// A move with a window does not take its turn before the window has passed since its command arrived.
func TestMoveGateWindow(t *testing.T) {
	var g moveGate
	const window = 30 * time.Millisecond
	at := time.Now()
	g.begin(new(moveTurn), at.UnixNano(), window)
	if got := time.Since(at); got < window {
		t.Fatalf("the move had its turn %v after its command arrived, before its window of %v", got, window)
	}
	g.end()
	// A command stamped in the future (the wall clock stepped back since) waits no longer than window.
	start := time.Now()
	g.begin(new(moveTurn), start.Add(time.Hour).UnixNano(), window)
	if got := time.Since(start); got > 10*time.Second {
		t.Fatalf("a move stamped an hour ahead waited %v, want about %v", got, window)
	}
	g.end()
}

// waitFor waits until n moves are under way or waiting in g.
func waitFor(t *testing.T, g *moveGate, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := len(g.queue)
		if g.running != nil {
			got++
		}
		g.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d moves in the gate, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkMoveGateWait is what the gate costs a shared-lane batch while no move is under way.
func BenchmarkMoveGateWait(b *testing.B) {
	var g moveGate
	done := make(chan struct{})
	b.ReportAllocs()
	for range b.N {
		g.wait(1, done)
	}
}

// BenchmarkMoveGateWaitParallel is the same from every core at once.
func BenchmarkMoveGateWaitParallel(b *testing.B) {
	var g moveGate
	done := make(chan struct{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.wait(1, done)
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
