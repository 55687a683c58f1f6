package gateway

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

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

	mu     sync.Mutex
	ep     *os.File // the epoll instance; nil until the first park, or after it failed
	epfd   int      // its descriptor, while ep is open
	shut   bool
	socks  map[int]*parkedConn // parked sockets by descriptor
	warned time.Time           // when a failure to park was last logged
}

// roomEvents is how many parked sockets one look at the room takes.
const roomEvents = 128

// errNoRoom: the socket could not enter the waiting room, and is as it was: the session keeps its
// goroutines (here, wrapping the reason; on other systems there is no room, room_other.go).
var errNoRoom = errors.New("no waiting room for idle connections")

// start opens the epoll instance and starts the room's goroutine, unless it runs. r.mu held.
func (r *waitingRoom) start() error {
	if r.shut {
		return net.ErrClosed
	}
	if r.ep != nil {
		return nil
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err == nil {
		err = unix.SetNonblock(fd, true) // so that os.NewFile hands it to Go's poller
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	ep := os.NewFile(uintptr(fd), "waiting-room")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return err
	}
	r.ep, r.epfd, r.socks = ep, fd, make(map[int]*parkedConn)
	r.in.spawn(func() { r.run(ep, raw) })
	return nil
}

// enter moves the socket of conn, the session's connection, into the room: a duplicate of its
// descriptor waits there, and conn is closed. Once it returns nil the room owns the session's end.
// net.ErrClosed: the session or the instance is closing. errNoRoom: the session goes on as it was, on
// conn or on a connection of the duplicate (the reason is logged, at most once a minute).
func (r *waitingRoom) enter(s *session, conn net.Conn) error {
	err := r.admit(s, conn)
	if errors.Is(err, errNoRoom) {
		r.mu.Lock()
		warn := time.Since(r.warned) >= time.Minute
		if warn {
			r.warned = time.Now()
		}
		r.mu.Unlock()
		if warn {
			r.in.log.Warn("an idle connection keeps its goroutines: it could not wait in the waiting room of idle connections (logged once a minute)",
				"client", s.peer, "err", err)
		}
	}
	return err
}

// noRoom is err as a failure to enter after which the session goes on.
func noRoom(err error) error { return fmt.Errorf("%w: %w", errNoRoom, err) }

// admit is enter without its log.
func (r *waitingRoom) admit(s *session, conn net.Conn) error {
	r.mu.Lock()
	err := r.start()
	r.mu.Unlock()
	if errors.Is(err, net.ErrClosed) {
		return err
	}
	if err != nil {
		return noRoom(fmt.Errorf("starting the waiting room: %w", err))
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return noRoom(fmt.Errorf("a %T has no descriptor", conn))
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
		return noRoom(os.NewSyscallError("fcntl", derr))
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
	err = errors.New("the waiting room failed")
	if r.ep != nil {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
		err = os.NewSyscallError("epoll_ctl", unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
	}
	if err != nil {
		r.mu.Unlock()
		return resume(pc, err)
	}
	r.socks[fd] = pc
	r.in.m.parked.Inc() // under mu, before any take can count it out
	r.mu.Unlock()
	if s.closing() { // closed before the room had it: its close found nothing to take out
		r.evict(pc)
	}
	return nil
}

// resume serves pc's session on pc's descriptor again, which could not wait in the room for reason:
// it goes on (errNoRoom), unless it is closing (net.ErrClosed).
func resume(pc *parkedConn, reason error) error {
	s := pc.s
	nc, err := socketConn(pc.fd, pc.laddr, pc.raddr)
	if err != nil {
		unix.Close(pc.fd)
		return net.ErrClosed
	}
	s.mu.Lock()
	s.park.pc, s.conn, s.client.raw = nil, nc, nc
	s.mu.Unlock()
	s.sh.unsent = unsentBytes(nc)
	if s.closing() { // closed meanwhile: its close reached only the parked connection
		nc.Close()
		return net.ErrClosed
	}
	return noRoom(reason)
}

// take removes pc's socket from the room, if it is still there, and reports whether it was: the one
// that takes it (a wake or a close) owns the descriptor and the session's end.
func (r *waitingRoom) take(pc *parkedConn) bool {
	r.mu.Lock()
	if r.socks[pc.fd] != pc {
		r.mu.Unlock()
		return false
	}
	delete(r.socks, pc.fd)
	unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, pc.fd, nil)
	r.mu.Unlock()
	r.out(pc)
	return true
}

// out records that pc's socket left the room (take, or the room's failure).
func (r *waitingRoom) out(pc *parkedConn) {
	r.in.m.parked.Dec()
	pc.s.mu.Lock()
	pc.s.park.pc = nil
	pc.s.mu.Unlock()
}

// evict closes a parked socket and ends its session (session.close). Idempotent.
func (r *waitingRoom) evict(pc *parkedConn) {
	if !r.take(pc) {
		return
	}
	unix.Close(pc.fd)
	go r.in.ended(pc.s) // not under the closer's locks
}

// run waits for parked sockets with input or a hang-up, and wakes their sessions, until the room
// closes. Should the room fail, every parked session wakes, and the next park opens a new room.
func (r *waitingRoom) run(ep *os.File, raw syscall.RawConn) {
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
		if err == nil && werr == nil {
			for _, ev := range events[:n] {
				r.mu.Lock()
				pc := r.socks[int(ev.Fd)]
				r.mu.Unlock()
				if pc != nil && r.take(pc) { // else closed meanwhile
					go r.in.wake(pc)
				}
			}
			continue
		}
		r.mu.Lock()
		shut := r.shut
		var woken []*parkedConn
		if !shut && r.ep == ep {
			for _, pc := range r.socks {
				woken = append(woken, pc)
			}
			clear(r.socks)
			r.ep = nil
			ep.Close()
		}
		r.mu.Unlock()
		if !shut {
			r.in.log.Error("the waiting room of idle connections failed: its connections wake", "err", errors.Join(err, werr), "parked", len(woken))
		}
		for _, pc := range woken {
			r.out(pc)
			go r.in.wake(pc)
		}
		return
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
