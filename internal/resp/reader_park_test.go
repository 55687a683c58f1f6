package resp

import (
	"io"
	"net"
	"testing"
	"time"
)

// A read that times out leaves the Reader as it was — also in the middle of a command — so that
// ReadBatch may be called again and the command completes; other errors stay sticky.
func TestReadBatchTimeoutIsNotSticky(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	rd := NewReader(a, DefaultLimits())
	go b.Write([]byte("*2\r\n$3\r\nGET\r\n$1\r\n")) // half a command
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := rd.ReadBatch(); !isTimeout(err) {
		t.Fatalf("first ReadBatch: %v, want a timeout", err)
	}
	if rd.Idle() {
		t.Fatal("Idle with half a command buffered")
	}
	a.SetReadDeadline(time.Time{})
	go b.Write([]byte("k\r\n"))
	cmds, err := rd.ReadBatch()
	if err != nil || len(cmds) != 1 || string(cmds[0].Args[1]) != "k" {
		t.Fatalf("after the timeout: %d commands, %v; want GET k", len(cmds), err)
	}
	if !rd.Idle() {
		t.Fatal("not Idle after every command was handed out")
	}
	b.Close()
	if _, err := rd.ReadBatch(); err != io.EOF {
		t.Fatalf("at the end: %v, want EOF", err)
	}
	if rd.Idle() {
		t.Fatal("Idle after an error")
	}
}
