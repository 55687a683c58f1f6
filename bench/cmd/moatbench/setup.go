package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

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

// gen writes, into -dir: allow.lst and haproxy.cfg, nutcracker.yml, and moat.yaml with two or three
// instances: r-bench (the measured one: 1,000 entries in 10 groups, 127.0.0.0/8 among them), r-benchflood
// (the refusal-flood one: 1,000 entries in 10 groups admitting only 127.0.0.0/31 of loopback, so
// redis-benchmark from 127.0.0.1 is served and 127.0.0.2 and up are refused) and, with -moat-acl, r-benchacl
// (r-bench's whitelist, and requirepass: the password read from the file -moat-acl-passfile, so the ACL
// user run.sh creates there is enforced) and, with -moat-ded, r-benchded (r-bench with shared-lanes 0: every
// client on a dedicated lane, issue 2's bar against the naive relay) and, with -moat-emb, r-benchemb (r-bench's
// whitelist in front of the in-process engine instead of redis-server: issue 21's row). Not the bare entry 127.0.0.1: in moat, as in Alibaba Cloud, that
// entry means "nobody" and is void beside any other entry (SPEC W6).
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dir := fs.String("dir", "", "directory to write into")
	redis := fs.Int("redis", 0, "direct redis-server port")
	haproxy := fs.Int("haproxy", 0, "HAProxy port")
	twem := fs.Int("twemproxy", 0, "twemproxy port")
	moat := fs.Int("moat", 0, "moat r-bench port")
	moatFlood := fs.Int("moat-flood", 0, "moat r-benchflood port")
	moatAPI := fs.Int("moat-api", 0, "moat API/metrics port")
	moatACL := fs.Int("moat-acl", 0, "moat r-benchacl port (0: no such instance)")
	moatDed := fs.Int("moat-ded", 0, "moat r-benchded port: r-bench on dedicated lanes alone (0: no such instance)")
	moatEmb := fs.Int("moat-emb", 0, "moat r-benchemb port: r-bench's whitelist on the embedded engine (0: no such instance)")
	aclPassFile := fs.String("moat-acl-passfile", "", "file holding r-benchacl's requirepass (first line)")
	entries := fs.Int("entries", 1000, "allow-list entries per list")
	groups := fs.Int("groups", 10, "moat whitelist groups the entries are spread over")
	seed := fs.Uint64("seed", 7, "seed of the random allow-list entries")
	fs.Parse(args)
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	ports := map[string]int{"redis": *redis, "haproxy": *haproxy, "twemproxy": *twem, "moat": *moat, "moat-flood": *moatFlood, "moat-api": *moatAPI}
	if *moatACL != 0 {
		ports["moat-acl"] = *moatACL
	}
	if *moatDed != 0 {
		ports["moat-ded"] = *moatDed
	}
	if *moatEmb != 0 {
		ports["moat-emb"] = *moatEmb
	}
	for name, p := range ports {
		if p <= 0 || p > 65535 {
			return fmt.Errorf("-%s: port %d", name, p)
		}
	}
	var aclPass string
	if *moatACL != 0 {
		b, err := os.ReadFile(*aclPassFile)
		if err != nil {
			return fmt.Errorf("-moat-acl-passfile: %w", err)
		}
		aclPass, _, _ = strings.Cut(string(b), "\n")
		if aclPass = strings.TrimSpace(aclPass); len(aclPass) < 16 || strings.ContainsAny(aclPass, " \t\"\\") {
			return fmt.Errorf("-moat-acl-passfile: want a password of 16 or more characters, no blanks or quotes")
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
	insts := []harness.MoatInstance{
		{ID: "r-bench", Listen: loop(*moat), Backend: "redis://" + loop(*redis), Entries: allow, Groups: *groups},
		{ID: "r-benchflood", Listen: loop(*moatFlood), Backend: "redis://" + loop(*redis), Entries: floodAllow, Groups: *groups},
	}
	if *moatACL != 0 {
		insts = append(insts, harness.MoatInstance{ID: "r-benchacl", Listen: loop(*moatACL), Backend: "redis://" + loop(*redis),
			Entries: allow, Groups: *groups, Params: map[string]string{"requirepass": aclPass}})
	}
	if *moatDed != 0 {
		insts = append(insts, harness.MoatInstance{ID: "r-benchded", Listen: loop(*moatDed), Backend: "redis://" + loop(*redis),
			Entries: allow, Groups: *groups, Params: map[string]string{"shared-lanes": "0"}})
	}
	if *moatEmb != 0 {
		insts = append(insts, harness.MoatInstance{ID: "r-benchemb", Listen: loop(*moatEmb), Backend: "embedded", Entries: allow, Groups: *groups})
	}
	files := map[string]string{
		"allow.lst":      harness.HAProxyAllowFile(allow),
		"haproxy.cfg":    harness.HAProxyConfig(loop(*haproxy), loop(*redis), allowPath),
		"nutcracker.yml": harness.NutcrackerConfig(loop(*twem), loop(*redis)),
		"moat.yaml":      harness.MoatConfig(dataDir, loop(*moatAPI), insts),
	}
	for name, body := range files {
		mode := os.FileMode(0o644)
		if name == "moat.yaml" && aclPass != "" {
			mode = 0o600 // it holds a password
		}
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(body), mode); err != nil {
			return err
		}
	}
	return nil
}
