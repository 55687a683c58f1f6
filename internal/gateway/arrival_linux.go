//go:build linux

package gateway

import (
	"io"
	"iter"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// arrivals reads a plain TCP client socket as its session's command source, and keeps when the kernel
// received the bytes it read last (SO_TIMESTAMPNS): the order moves take (ready.go) is the order their
// commands reached the machine, not the order Go's scheduler ran their readers in. Not safe for
// concurrent use: its session's reader alone reads it, and ends it with release.
//
// Once the session is busy (holdAfter), its reads are one RawConn.Read held open across calls (hold,
// run as a coroutine). Every RawConn.Read starts by forgetting that the socket became readable, so it
// must read before it may wait: after each batch, that read is the one that finds nothing. Held open,
// the read may wait at once instead, and the poller still wakes it for whatever arrived since — when
// the read before it left nothing behind and the end of the connection, should it come now, cannot go
// unseen:
//   - the kernel says so: the socket's TCP_INQ hint counts the bytes left, and counts a received FIN
//     as one;
//   - a peer's reset (RST) is not in that hint, so the batch read last must owe the client a reply that
//     is written at once (answering, the reader's word for it: session.read, command.promptFor): the
//     write fails on a reset socket, and the session closes, which shuts the socket down (a Close
//     would wait for this read: session.setHolding) and wakes this read.
type arrivals struct {
	conn net.Conn
	rc   syscall.RawConn
	p    []byte    // what Read or Now reads into
	oob  [8]uint64 // room for both control messages (control), aligned for their headers
	wait bool      // recvmsg waits for input (Read), or not (Now)
	n    int
	oobn int
	err  error
	at   int64 // when the last bytes read arrived, unix nanoseconds; 0 before any

	next    func() (struct{}, bool) // resumes the held read (iter.Pull of hold); nil when none is held
	stop    func()
	heldErr error // why the held read ended: RawConn.Read's error (a deadline, a close)
	empty   bool  // the held read's last read left the socket empty: its next waits before it reads
	inq     int32 // the TCP_INQ hint of the last read; -1: none came
	reads   int   // recvmsg calls made (tests)
	// answered: the session will write to its client in reply to the batch it read last (answering);
	// mayWait: that was so for the read under way. Each read takes answered and clears it.
	answered, mayWait bool
	answers           int  // batches answered, up to holdAfter
	hinted            bool // TCP_INQ is on
	// onHold, when set, is told when a held read begins (true; false refuses it: reads are not held)
	// and ends (false), so that the socket's Close does not wait for it (session.setHolding).
	onHold func(on bool) bool
	recv   func(fd uintptr) bool // a.recvmsg, made once: the read of a RawConn.Read not held
}

// newArrivals returns the arrival-stamping source of c, nil when c is not a TCP socket. c's bytes carry
// stamps when its listener asked for them (stampAccepted); bytes without one leave At as it was.
func newArrivals(c net.Conn) *arrivals {
	rc := tcpRaw(c)
	if rc == nil {
		return nil
	}
	a := &arrivals{conn: c, rc: rc}
	a.recv = a.recvmsg
	return a
}

// stampAccepted is a listening socket's Control (net.ListenConfig): the sockets it accepts inherit
// SO_TIMESTAMPNS, so that their bytes are stamped from the first one, and while it listens the kernel
// keeps stamping (it turns stamping on and off, which takes a while, as sockets that ask come and go).
// A kernel that refuses leaves sessions without stamps, not the address unserved.
func stampAccepted(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// Read reads as c.Read does (its errors are c.Read's), and stamps what it read.
func (a *arrivals) Read(p []byte) (int, error) {
	a.wait = true
	return a.read(p)
}

// Now reads what the socket holds already, without waiting: (0, nil) when nothing, io.EOF at its end
// (resp.Reader.Lend's now).
func (a *arrivals) Now(p []byte) (int, error) {
	a.wait = false
	n, err := a.read(p)
	if err == syscall.EAGAIN {
		return 0, nil
	}
	return n, err
}

// At reports when the bytes read last reached the kernel, in unix nanoseconds (0: nothing read yet).
func (a *arrivals) At() int64 { return a.at }

func (a *arrivals) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	a.p, a.n, a.err = p, 0, nil
	a.mayWait, a.answered = a.answered, false
	if a.next == nil && a.answers >= holdAfter && (a.onHold == nil || a.onHold(true)) {
		if !a.hinted {
			// The kernel's hint of the bytes left after each read; accepted sockets do not inherit it,
			// and a session that never holds a read does not pay for it. A kernel without it gives no
			// hint, and every wait reads first.
			a.rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, unix.TCP_INQ, 1) })
			a.hinted = true
		}
		a.empty = false // a new RawConn.Read must read first
		a.next, a.stop = iter.Pull(a.hold)
	}
	if a.next != nil {
		_, ok := a.next()
		a.p = nil // keep no reference to p: it may be a parked session's lent buffer (park.go)
		if !ok {  // the held read ended
			err := a.heldErr
			a.next, a.stop, a.heldErr = nil, nil, nil
			a.endHold()
			return 0, a.opError(err)
		}
	} else {
		err := a.rc.Read(a.recv)
		a.p = nil
		if err != nil {
			return 0, a.opError(err)
		}
	}
	switch {
	case a.err == syscall.EAGAIN:
		return 0, a.err
	case a.err != nil:
		return 0, a.opError(a.err)
	case a.n == 0:
		return 0, io.EOF
	}
	return a.n, nil
}

// answering tells a that the session will write to its client in reply to the batch it read last, so
// that its next read may wait without reading first (hold). Any read clears it.
func (a *arrivals) answering(ok bool) {
	if a != nil {
		a.answered = ok
		if ok && a.answers < holdAfter {
			a.answers++
		}
	}
}

// holdAfter is how many answered batches a session reads before its reads are held (hold): a held read
// costs a goroutine, which the runtime keeps once it ends (about 0.5 KiB), and a connection that sends
// a command or two and then idles would pay that for nothing.
const holdAfter = 8

// release ends the held read, if any. The session's reader calls it when it stops reading.
func (a *arrivals) release() {
	if a != nil && a.stop != nil {
		a.stop()
		a.next, a.stop = nil, nil
		a.endHold()
	}
}

// endHold tells onHold that the held read ended.
func (a *arrivals) endHold() {
	if a.onHold != nil {
		a.onHold(false)
	}
}

// hold is the held read: one RawConn.Read whose function reads once for each call of next and yields.
// It ends when RawConn.Read fails (heldErr) or release stops it.
func (a *arrivals) hold(yield func(struct{}) bool) {
	a.heldErr = a.rc.Read(func(fd uintptr) bool {
		for {
			if a.wait && a.empty && a.mayWait {
				// Nothing was left to read: wait for the poller. Readiness that came since the read
				// that emptied the socket was kept, so this wakes at once for it.
				a.empty = false
				return false
			}
			if !a.recvmsg(fd) {
				return false // nothing yet: wait
			}
			// Nothing found, or all there was taken with no end of input behind it.
			a.empty = a.err == syscall.EAGAIN || (a.err == nil && a.n > 0 && a.inq == 0)
			if !yield(struct{}{}) {
				return true
			}
		}
	})
}

// opError wraps err as net.Conn.Read does, so that callers see the same errors either way.
func (a *arrivals) opError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: a.conn.LocalAddr(), Addr: a.conn.RemoteAddr(), Err: err}
}

// recvmsg reads once into p; false: nothing is there and it should wait for input.
func (a *arrivals) recvmsg(fd uintptr) bool {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&a.oob)), unsafe.Sizeof(a.oob))
	for {
		a.reads++
		n, oobn, _, _, err := syscall.Recvmsg(int(fd), a.p, oob, 0)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if a.wait {
				return false
			}
			a.err = err
			return true
		case nil:
			a.n, a.oobn = n, oobn
			a.control()
			return true
		default:
			a.err = err
			return true
		}
	}
}

// control takes what the control messages recvmsg filled in say: the receive time (SCM_TIMESTAMPNS: a
// timespec; without one the last stamp stays) and the bytes left to read (TCP_CM_INQ; -1 without).
func (a *arrivals) control() {
	a.inq = -1
	b := unsafe.Slice((*byte)(unsafe.Pointer(&a.oob)), a.oobn)
	for len(b) >= syscall.CmsgLen(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < syscall.CmsgLen(0) || l > len(b) {
			return
		}
		data := b[syscall.CmsgLen(0):l]
		switch {
		case h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && len(data) >= int(unsafe.Sizeof(syscall.Timespec{})):
			a.at = (*syscall.Timespec)(unsafe.Pointer(&data[0])).Nano()
		case h.Level == syscall.IPPROTO_TCP && h.Type == unix.TCP_CM_INQ && len(data) >= 4:
			a.inq = *(*int32)(unsafe.Pointer(&data[0]))
		}
		b = b[min(syscall.CmsgSpace(l-syscall.CmsgLen(0)), len(b)):]
	}
}
