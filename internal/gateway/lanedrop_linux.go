package gateway

import (
	"io"
	"net"

	"golang.org/x/sys/unix"
)

// dropper returns how a lane's reader drops the rest of a bulk string owed to a client that was cut off
// (lane.read), straight from the backend connection c once the reader's buffer is empty: on TCP, recv
// with MSG_TRUNC discards the bytes in the kernel, never copied to moat. nil: c is not a TCP socket, and
// they are read through the reader's buffer.
func dropper(c net.Conn) func(n int64) (int64, error) {
	rc := tcpRaw(c)
	if rc == nil {
		return nil
	}
	var spare []byte // for a kernel that will not discard (never seen on Linux ≥ 2.4.4)
	return func(n int64) (int64, error) {
		if spare != nil {
			m, err := c.Read(spare[:min(n, int64(len(spare)))])
			return int64(m), err
		}
		var got uintptr
		var errno unix.Errno
		err := rc.Read(func(fd uintptr) bool {
			for {
				// No buffer: with MSG_TRUNC TCP copies nothing, and a kernel that tried would fail (EFAULT).
				got, _, errno = unix.Syscall6(unix.SYS_RECVFROM, fd, 0, uintptr(min(n, 1<<30)), unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
				if errno != unix.EINTR {
					return errno != unix.EAGAIN
				}
			}
		})
		switch {
		case err != nil:
			return 0, err
		case errno == unix.EFAULT || errno == unix.EINVAL || errno == unix.EOPNOTSUPP:
			spare = make([]byte, 32<<10)
			m, err := c.Read(spare[:min(n, int64(len(spare)))])
			return int64(m), err
		case errno != 0:
			return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errno}
		case got == 0:
			return 0, io.EOF
		}
		return int64(got), nil
	}
}
