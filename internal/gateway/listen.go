package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
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
	ln, err := (&net.ListenConfig{Control: listenControl}).Listen(context.Background(), network, addr)
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

// TLSSource gives the TLS configuration for each new handshake (tlsconf.Server implements it).
// Config must be safe for concurrent use and may return a different configuration after a reload;
// established connections keep theirs.
type TLSSource interface {
	Config() *tls.Config
}

// configureAccept applies the configuration of accepting connections: TLS and the handshake timeout.
func (in *Instance) configureAccept(cfg Config) error {
	in.accept.tls = cfg.TLS
	in.accept.handshakeTimeout = cfg.HandshakeTimeout
	if in.accept.handshakeTimeout <= 0 {
		in.accept.handshakeTimeout = 10 * time.Second
	}
	if len(cfg.TLSListen) > 0 && cfg.TLS == nil {
		return fmt.Errorf("instance %s: TLS listen addresses without a TLS configuration", cfg.ID)
	}
	in.applyLimits(in.snap.Load())
	return nil
}

// listenTLS binds the TLS listen addresses; on error none is left open.
func (in *Instance) listenTLS(cfg Config) error {
	split := splitFamilies(cfg.Listen, cfg.TLSListen)
	for _, addr := range cfg.TLSListen {
		ln, err := listen(addr, split(addr))
		if err != nil {
			for _, l := range in.accept.tlsListeners {
				l.Close()
			}
			in.accept.tlsListeners = nil
			return fmt.Errorf("instance %s: listen (TLS) on %s: %w", cfg.ID, addr, err)
		}
		in.accept.tlsListeners = append(in.accept.tlsListeners, ln)
	}
	return nil
}

// TLSAddrs returns the bound TLS listen addresses.
func (in *Instance) TLSAddrs() []net.Addr {
	out := make([]net.Addr, len(in.accept.tlsListeners))
	for i, ln := range in.accept.tlsListeners {
		out[i] = ln.Addr()
	}
	return out
}
