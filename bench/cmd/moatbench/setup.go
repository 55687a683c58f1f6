package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/moat-dev/moat/bench/harness"
)

// freeports prints n distinct free ports on 127.0.0.1 (held open together, then released).
func freeports(args []string) error {
	fs := flag.NewFlagSet("freeports", flag.ExitOnError)
	n := fs.Int("n", 1, "how many ports")
	fs.Parse(args)
	if *n < 1 || *n > 64 {
		return fmt.Errorf("-n %d: want 1..64", *n)
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range *n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// gen writes, into -dir: allow.lst and haproxy.cfg, nutcracker.yml, and moat.yaml with two instances:
// r-bench (the measured one: 1,000 entries in 10 groups, 127.0.0.0/8 among them) and r-benchflood (the
// refusal-flood one: 1,000 entries in 10 groups admitting only 127.0.0.0/31 of loopback, so redis-benchmark
// from 127.0.0.1 is served and 127.0.0.2 and up are refused). Not the bare entry 127.0.0.1: in moat, as in
// Alibaba Cloud, that entry means "nobody" and is void beside any other entry (SPEC W6).
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "directory to write into")
	redis := fs.Int("redis", 0, "direct redis-server port")
	haproxy := fs.Int("haproxy", 0, "HAProxy port")
	twem := fs.Int("twemproxy", 0, "twemproxy port")
	moat := fs.Int("moat", 0, "moat r-bench port")
	moatFlood := fs.Int("moat-flood", 0, "moat r-benchflood port")
	moatAPI := fs.Int("moat-api", 0, "moat API/metrics port")
	entries := fs.Int("entries", 1000, "allow-list entries per list")
	groups := fs.Int("groups", 10, "moat whitelist groups the entries are spread over")
	seed := fs.Uint64("seed", 7, "seed of the random allow-list entries")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	for name, p := range map[string]int{"redis": *redis, "haproxy": *haproxy, "twemproxy": *twem, "moat": *moat, "moat-flood": *moatFlood, "moat-api": *moatAPI} {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("-%s: port %d", name, p)
		}
	}
	if *entries < 2 || *entries > harness.MaxGroupEntries**groups || *groups < 1 || *groups > 32 {
		return fmt.Errorf("-entries %d over -groups %d: moat holds at most %d entries a group", *entries, *groups, harness.MaxGroupEntries)
	}
	loop := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	allow := harness.AllowList(*seed, *entries, netip.MustParsePrefix("127.0.0.0/8"))
	floodAllow := harness.AllowList(*seed+1, *entries, netip.MustParsePrefix("127.0.0.0/31"))
	allowPath, err := filepath.Abs(filepath.Join(*dir, "allow.lst"))
	if err != nil {
		return err
	}
	dataDir, _ := filepath.Abs(filepath.Join(*dir, "moat-data"))
	files := map[string]string{
		"allow.lst":      harness.HAProxyAllowFile(allow),
		"haproxy.cfg":    harness.HAProxyConfig(loop(*haproxy), loop(*redis), allowPath),
		"nutcracker.yml": harness.NutcrackerConfig(loop(*twem), loop(*redis)),
		"moat.yaml": harness.MoatConfig(dataDir, loop(*moatAPI), []harness.MoatInstance{
			{ID: "r-bench", Listen: loop(*moat), Backend: "redis://" + loop(*redis), Entries: allow, Groups: *groups},
			{ID: "r-benchflood", Listen: loop(*moatFlood), Backend: "redis://" + loop(*redis), Entries: floodAllow, Groups: *groups},
		}),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
