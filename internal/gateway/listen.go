package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Bind errors, wrapped with the address by listen (N1).
var (
	ErrAddrInUse    = errors.New("address already in use (another process or another instance listens there)")
	ErrAddrNotAvail = errors.New("address not available: no network interface of this machine has it")
)

// listen binds one address. Go binds a wildcard ("0.0.0.0:port" or "[::]:port") as one dual-stack
// socket, IPv4 clients arriving as ::ffff:a.b.c.d (judged as a.b.c.d). When both wildcards of a port
// are listed (split), each family gets its own socket, IPv6 one IPv6-only, as Redis binds "* -::*".
func listen(addr string, split bool) (net.Listener, error) {
	network := "tcp"
	if split {
		if host, _, _ := net.SplitHostPort(addr); host == "::" {
			network = "tcp6"
		} else {
			network = "tcp4"
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), network, addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%w: %w", ErrAddrInUse, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return nil, fmt.Errorf("%w: %w", ErrAddrNotAvail, err)
	}
	return nil, err
}

// splitFamilies tells which addresses of the listen lists are one of a pair of wildcards on the same
// port ("0.0.0.0:6380" and "[::]:6380"), to be bound one family each.
func splitFamilies(lists ...[]string) func(addr string) bool {
	v4, v6 := map[string]bool{}, map[string]bool{}
	for _, l := range lists {
		for _, a := range l {
			host, port, err := net.SplitHostPort(a)
			switch {
			case err != nil || port == "0":
			case host == "0.0.0.0":
				v4[port] = true
			case host == "::":
				v6[port] = true
			}
		}
	}
	return func(addr string) bool {
		host, port, err := net.SplitHostPort(addr)
		return err == nil && (host == "0.0.0.0" || host == "::") && v4[port] && v6[port]
	}
}
