package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/tidwall/redcon"
	"go4.org/netipx"
)

// relay runs one of the two naive Go relays of the reference baseline (reference/peers-and-libraries.md,
// C.1), one backend connection per client, to set beside moat's dedicated lane in the same run:
//
//   - the L4 relay (default): two io.Copy goroutines, no parsing, no allow list;
//   - with -resp, the RESP relay ("go-resp", issue 2's bar): the source judged against the -allow list
//     (netipx), the client's commands read with redcon, each command's name upper-cased and checked against
//     a deny map, each command's raw bytes written to a 16 KiB bufio.Writer flushed once per batch, the
//     replies relayed unparsed by io.Copy. A denied command closes the connection (the relay cannot keep
//     replies in order). It is the cheapest shape of a gateway that can enforce per-command rules.
func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on (127.0.0.1:port)")
	backend := fs.String("backend", "", "redis-server address (127.0.0.1:port)")
	resp := fs.Bool("resp", false, "parse commands (the go-resp relay) instead of copying bytes")
	allowFile := fs.String("allow", "", "with -resp or -gnet: allow list, one address or CIDR a line (HAProxy's allow.lst)")
	useGnet := fs.Bool("gnet", false, "the event-loop prototype (gnetrelay.go): parse commands, share -lanes backend connections")
	lanes := fs.Int("lanes", 2, "with -gnet: shared backend connections")
	fs.Parse(args)
	if *listen == "" || *backend == "" {
		return fmt.Errorf("-listen and -backend are required")
	}
	var allow *netipx.IPSet
	if *resp || *useGnet {
		var err error
		if allow, err = readAllowList(*allowFile); err != nil {
			return err
		}
	}
	if *useGnet {
		return runGnetRelay(*listen, *backend, allow, *lanes)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			if allow != nil && !allow.Contains(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()) {
				c.Write([]byte("-ERR illegal address\r\n"))
				return
			}
			b, err := net.Dial("tcp", *backend)
			if err != nil {
				return
			}
			defer b.Close()
			if !*resp {
				go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, b)
				return
			}
			go func() { io.Copy(c, b); c.Close() }()
			relayCommands(c, b)
		}()
	}
}

// denied is the go-resp relay's deny map.
var denied = map[string]bool{"FLUSHALL": true, "FLUSHDB": true, "CONFIG": true, "DEBUG": true, "SHUTDOWN": true, "MODULE": true}

// relayCommands copies the client's commands to the backend, batch by batch, until either side fails or a
// denied command arrives.
func relayCommands(c, b net.Conn) {
	rd := redcon.NewReader(c)
	w := bufio.NewWriterSize(b, 16<<10)
	for {
		cmds, err := rd.ReadCommands()
		if err != nil {
			return
		}
		for _, cmd := range cmds {
			if denied[strings.ToUpper(string(cmd.Args[0]))] {
				return
			}
			w.Write(cmd.Raw)
		}
		if w.Flush() != nil {
			return
		}
	}
}

// readAllowList reads an allow list of addresses and CIDRs, one a line.
func readAllowList(path string) (*netipx.IPSet, error) {
	if path == "" {
		return nil, fmt.Errorf("-resp and -gnet need -allow")
	}
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b netipx.IPSetBuilder
	for i, line := range strings.Fields(string(body)) {
		p, err := netip.ParsePrefix(line)
		if err != nil {
			a, err2 := netip.ParseAddr(line)
			if err2 != nil {
				return nil, fmt.Errorf("%s: entry %d: %q is neither an address nor a CIDR", path, i+1, line)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		b.AddPrefix(p)
	}
	return b.IPSet()
}
