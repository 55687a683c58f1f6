package gateway

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// waitingRoom is where parked sockets wait (park.go): an epoll instance of moat's own holding them,
// level-triggered, for input or a hang-up. Its descriptor is itself watched by Go's poller, so the room
// is one goroutine (run) that waits there like any reader, and never blocks a thread in a system call
// of its own — with one P (moat's default on two cores), a thread blocked in epoll_wait holds the P
// until the runtime's monitor takes it back, up to ~20 ms on an idle process, and every other goroutine
// waits meanwhile. Safe for concurrent use; the zero value (with in set) is ready, and starts at the
// first park.
type waitingRoom struct {
	in *Instance

	mu    sync.Mutex
	ep    *os.File // the epoll instance; nil until the first park
	epfd  int      // its descriptor, while ep is open
	err   error    // why the room could not start
	shut  bool
	socks map[int]*parkedConn // parked sockets by descriptor
}

// roomEvents is how many parked sockets one look at the room takes.
const roomEvents = 128

// errNoRoom: this system has no waiting room (room_other.go).
var errNoRoom = errors.New("no waiting room for idle connections here")

// start opens the epoll instance and starts the room's goroutine, the first time. r.mu held.
func (r *waitingRoom) start() error {
	if r.shut {
		return net.ErrClosed
	}
	if r.ep != nil || r.err != nil {
		return r.err
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		err = unix.SetNonblock(fd, true) // so that os.NewFile hands it to Go's poller
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		r.err = fmt.Errorf("starting the waiting room of idle connections: %w", os.NewSyscallError("epoll_create1", err))
		return r.err
	}
	ep := os.NewFile(uintptr(fd), "waiting-room")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		r.err = fmt.Errorf("starting the waiting room of idle connections: %w", err)
		return r.err
	}
	r.ep, r.epfd, r.socks = ep, fd, make(map[int]*parkedConn)
	r.in.spawn(func() { r.run(raw) })
	return nil
}

// enter moves the socket of conn, the session's connection, into the room: a duplicate of its
// descriptor waits there, and conn is closed. Once it returns nil the room owns the session's end.
// net.ErrClosed: the session or the instance is closing.
func (r *waitingRoom) enter(s *session, conn net.Conn) error {
	r.mu.Lock()
	err := r.start()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errNoRoom
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return net.ErrClosed
	}
	fd := -1
	var derr error
	// Under Control, so that a close meanwhile cannot hand the descriptor's number to another socket.
	if cerr := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 3) }); cerr != nil {
		return net.ErrClosed
	}
	if derr != nil {
		return os.NewSyscallError("fcntl", derr)
	}
	pc := &parkedConn{room: r, s: s, fd: fd, laddr: conn.LocalAddr(), raddr: conn.RemoteAddr()}
	conn.Close()
	s.mu.Lock()
	// The parked connection stands for the socket: CLIENT LIST takes its addresses, close closes it.
	s.park.pc, s.conn, s.client.raw = pc, pc, pc
	s.mu.Unlock()
	r.mu.Lock()
	if r.shut {
		r.mu.Unlock()
		unix.Close(fd)
		return net.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		r.mu.Unlock()
		unix.Close(fd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	r.socks[fd] = pc
	r.mu.Unlock()
	r.in.m.parked.Inc()
	if s.closing() { // closed before the room had it: its close found nothing to take out
		r.evict(pc)
	}
	return nil
}

// take removes pc's socket from the room, if it is still there, and reports whether it was: the one
// that takes it (a wake or a close) owns the descriptor and the session's end.
func (r *waitingRoom) take(pc *parkedConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.socks[pc.fd] != pc {
		return false
	}
	delete(r.socks, pc.fd)
	unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, pc.fd, nil)
	return true
}

// evict closes a parked socket and ends its session (session.close). Idempotent.
func (r *waitingRoom) evict(pc *parkedConn) {
	if !r.take(pc) {
		return
	}
	unix.Close(pc.fd)
	r.in.m.parked.Dec()
	pc.s.mu.Lock()
	pc.s.park.pc = nil
	pc.s.mu.Unlock()
	go r.in.ended(pc.s) // not under the closer's locks
}

// run waits for parked sockets with input or a hang-up, and wakes their sessions, until the room
// closes.
func (r *waitingRoom) run(raw syscall.RawConn) {
	events := make([]unix.EpollEvent, roomEvents)
	for {
		n := 0
		var werr error
		err := raw.Read(func(fd uintptr) bool {
			for {
				n, werr = unix.EpollWait(int(fd), events, 0)
				if werr != unix.EINTR {
					return werr != nil || n > 0
				}
			}
		})
		if err != nil || werr != nil {
			if !errors.Is(err, os.ErrClosed) && werr != nil {
				r.in.log.Error("the waiting room of idle connections failed", "err", werr)
			}
			return
		}
		for _, ev := range events[:n] {
			r.mu.Lock()
			pc := r.socks[int(ev.Fd)]
			r.mu.Unlock()
			if pc == nil || !r.take(pc) {
				continue // closed meanwhile
			}
			r.in.m.parked.Dec()
			pc.s.mu.Lock()
			pc.s.park.pc = nil
			pc.s.mu.Unlock()
			go r.in.wake(pc)
		}
	}
}

// close stops the room; nothing parks after. Close calls it once every session has ended.
func (r *waitingRoom) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shut = true
	for fd := range r.socks {
		unix.Close(fd)
	}
	clear(r.socks)
	if r.ep != nil {
		r.ep.Close() // ends run
	}
}
