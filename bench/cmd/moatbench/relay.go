package main

import (
	"flag"
	"fmt"
	"io"
	"net"
)

// relay is the naive Go relay of the reference baseline: one backend connection per client and two
// io.Copy goroutines, no parsing, no allow list. It is what a 1:1 Go proxy costs with nothing on top, to
// set beside moat's dedicated lane in the same run.
func relay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	listen := fs.String("listen", "", "address to listen on (127.0.0.1:port)")
	backend := fs.String("backend", "", "redis-server address (127.0.0.1:port)")
	fs.Parse(args)
	if *listen == "" || *backend == "" {
		return fmt.Errorf("-listen and -backend are required")
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
			b, err := net.Dial("tcp", *backend)
			if err != nil {
				return
			}
			defer b.Close()
			go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite() }()
			io.Copy(c, b)
		}()
	}
}
