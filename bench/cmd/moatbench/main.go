// Command moatbench is the Go half of moat's benchmark harness; bench/run.sh drives it. Subcommands:
//
//	freeports -n N          print N free loopback TCP ports
//	gen                     write the peers' configs and moat's config (1,000-entry allow lists)
//	run                     the round-robin of redis-benchmark runs, with CPU per process per run
//	flood                   a connect-and-refuse client (started by run, not by hand)
//	idle                    open idle connections to moat and measure its RSS per connection
//	report                  medians, ratios, results.csv and the chart from a run's directory
//	relay                   the naive 1:1 Go relay of the reference baseline, as a target
//	hol                     head-of-line blocking: small GETs' latency beside a long reply
//
// Every loop is bounded in count and time, and every address it connects to is a loopback address.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "freeports":
		err = freeports(args)
	case "gen":
		err = gen(args)
	case "run":
		err = run(args)
	case "flood":
		err = flood(args)
	case "idle":
		err = idle(args)
	case "report":
		err = report(args)
	case "relay":
		err = relay(args)
	case "hol":
		err = hol(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "moatbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: moatbench freeports|gen|run|flood|idle|report|relay|hol [flags] (see bench/run.sh)")
	os.Exit(2)
}
