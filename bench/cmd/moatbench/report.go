package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moat-dev/moat/bench/harness"
)

// report reads a run directory (targets.tsv, raw.csv, idle.json if present, machine.txt if present) and
// writes results.csv, chart.png and summary.md into it, and prints summary.md.
func report(args []string) error {
	fls := flag.NewFlagSet("report", flag.ExitOnError)
	dir := fls.String("dir", "", "the run's directory")
	title := fls.String("title", "moat benchmark harness: ratio to direct redis-server", "chart title")
	fls.Parse(args)
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(*dir, name)) }
	tb, err := read("targets.tsv")
	if err != nil {
		return err
	}
	specs, err := harness.ReadTargets(bytes.NewReader(tb))
	if err != nil {
		return err
	}
	rb, err := read("raw.csv")
	if err != nil {
		return err
	}
	samples, err := harness.ReadSamples(bytes.NewReader(rb))
	if err != nil {
		return err
	}
	sum := harness.Aggregate(harness.Plain(specs), samples)
	if ib, err := read("idle.json"); err == nil {
		var id harness.IdleResult
		if err := json.Unmarshal(ib, &id); err != nil {
			return fmt.Errorf("idle.json: %w", err)
		}
		sum.Idle = &id
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var md bytes.Buffer
	if mb, err := read("machine.txt"); err == nil {
		md.WriteString("Machine (client, proxies and redis-server share these cores):\n\n```\n")
		md.Write(mb)
		md.WriteString("```\n\n")
	}
	harness.WriteTable(&md, sum)
	if err := os.WriteFile(filepath.Join(*dir, "summary.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	var csvb bytes.Buffer
	if err := harness.WriteResultsCSV(&csvb, sum); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "results.csv"), csvb.Bytes(), 0o644); err != nil {
		return err
	}
	if err := harness.WriteChart(filepath.Join(*dir, "chart.png"), *title, sum); err != nil {
		return err
	}
	os.Stdout.Write(md.Bytes())
	fmt.Printf("\nwritten: %s, %s, %s\n", filepath.Join(*dir, "results.csv"), filepath.Join(*dir, "chart.png"), filepath.Join(*dir, "summary.md"))
	return nil
}
