package harness

import (
	"bytes"
	"encoding/csv"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parseFile(t *testing.T, name string) []BenchResult {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ParseBenchCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestParseBenchCSV(t *testing.T) {
	p16 := parseFile(t, "p16.csv") // captured from redis-benchmark 7.0.15 --csv
	want := []BenchResult{
		{Test: "SET", RPS: 400000, AvgMs: 1.605, P50Ms: 0.767, P99Ms: 5.975},
		{Test: "GET", RPS: 392156.88, AvgMs: 1.648, P50Ms: 0.575, P99Ms: 9.423},
	}
	if len(p16) != len(want) {
		t.Fatalf("got %+v", p16)
	}
	for i := range want {
		if p16[i] != want[i] {
			t.Errorf("line %d: got %+v, want %+v", i, p16[i], want[i])
		}
	}
	churn := parseFile(t, "churn.csv")
	if len(churn) != 1 || churn[0].Test != "PING_MBULK" || churn[0].RPS != 8968.61 || churn[0].P50Ms != 3.407 {
		t.Errorf("churn: %+v", churn)
	}
}

func TestParseBenchCSVNoise(t *testing.T) {
	in := "WARNING: Could not fetch server CONFIG\n" +
		"\n" +
		`"test","rps","p50_latency_ms"` + "\n" +
		"SET: rps=1234.0 (overall: 1000.0) avg_msec=1.0\r" + `"SET","80495.00","0.311"` + "\n" +
		`"GET","78316.00","0.303"` + "\r\n"
	res, err := ParseBenchCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0] != (BenchResult{Test: "SET", RPS: 80495, P50Ms: 0.311}) || res[1].RPS != 78316 {
		t.Errorf("got %+v", res)
	}
	// Releases before 6.2 printed "TEST","rps" without a header.
	res, err = ParseBenchCSV(strings.NewReader(`"PING_INLINE","14726.00"` + "\n"))
	if err != nil || len(res) != 1 || res[0].RPS != 14726 {
		t.Errorf("old format: %+v %v", res, err)
	}
	if _, err := ParseBenchCSV(strings.NewReader("Error: Connection reset by peer\n")); err == nil {
		t.Error("no result line: want an error")
	}
	if _, err := ParseBenchCSV(strings.NewReader(`"test","rps"` + "\n" + `"SET","fast"` + "\n")); err == nil {
		t.Error("bad number: want an error")
	}
}

func TestTestName(t *testing.T) {
	for _, c := range []struct {
		test string
		p    int
		want string
	}{{"SET", 1, TestP1Set}, {"GET", 1, TestP1Get}, {"SET", 16, TestP16Set}, {"get", 16, TestP16Get}, {"PING_MBULK", 0, TestChurn}} {
		if got := TestName(c.test, c.p); got != c.want {
			t.Errorf("TestName(%q, %d) = %q, want %q", c.test, c.p, got, c.want)
		}
	}
}

// 5-field lines (the original format) mixed with 7-field ones (credentials).
const targetsFile = "# name\tlabel\taddr\tpid\tskip\tuser\tpassword\n" +
	"direct\tdirect redis-server\t127.0.0.1:7001\t0\t\n" +
	"haproxy\tHAProxy\t127.0.0.1:7002\t101\t\n" +
	"moat\tmoat\t127.0.0.1:7003\t102\t\t\t\n" +
	"moat+acl\tmoat + ACL user\t127.0.0.1:7004\t102\t\tbench\tb3nchpw\n" +
	"moat+pass\tmoat, requirepass\t127.0.0.1:7005\t102\t\t\tdefpw\n" +
	"envoy\tEnvoy\t\t0\tnot installed\n"

func TestReadTargets(t *testing.T) {
	ts, err := ReadTargets(strings.NewReader(targetsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6 || ts[1].PID != 101 || ts[1].Addr != "127.0.0.1:7002" || ts[5].Skip == "" || ts[0].Label != "direct redis-server" {
		t.Errorf("got %+v", ts)
	}
	for i, want := range []struct {
		auth bool
		user string
		args string
	}{{false, "", ""}, {false, "", ""}, {false, "", ""}, {true, "bench", "--user bench -a b3nchpw"}, {true, "", "-a defpw"}, {false, "", ""}} {
		if got := ts[i]; got.Auth != want.auth || got.User != want.user || strings.Join(got.BenchAuthArgs(), " ") != want.args {
			t.Errorf("line %d (%s): auth %v user %q args %q, want %+v", i, got.Name, got.Auth, got.User, got.BenchAuthArgs(), want)
		}
	}
	if p := Plain(ts); p[3] != (Target{Name: "moat+acl", Label: "moat + ACL user", Auth: true, User: "bench"}) {
		t.Errorf("Plain must keep the user, drop the password: %+v", p[3])
	}
	for name, bad := range map[string]string{
		"no direct":         "haproxy\tHAProxy\t127.0.0.1:7002\t101\t\n",
		"repeated":          "direct\td\t127.0.0.1:1\t0\t\ndirect\td\t127.0.0.1:2\t0\t\n",
		"bad pid":           "direct\td\t127.0.0.1:1\tx\t\n",
		"few fields":        "direct\t127.0.0.1:1\n",
		"no address":        "direct\td\t\t0\t\n",
		"six fields":        "direct\td\t127.0.0.1:1\t0\t\tbench\n",
		"eight fields":      "direct\td\t127.0.0.1:1\t0\t\tbench\tpw\tx\n",
		"user, no password": "direct\td\t127.0.0.1:1\t0\t\tbench\t\n",
		"user with a blank": "direct\td\t127.0.0.1:1\t0\t\tbe nch\tpw\n",
	} {
		if _, err := ReadTargets(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// samplesFrom turns canned redis-benchmark output into samples the way `moatbench run` does.
func samplesFrom(t *testing.T, round int, target, out string, pipeline int, cpu Sample) []Sample {
	t.Helper()
	res, err := ParseBenchCSV(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var ss []Sample
	for _, r := range res {
		s := cpu
		s.Round, s.Target, s.Test, s.RPS, s.P50Ms = round, target, TestName(r.Test, pipeline), r.RPS, r.P50Ms
		ss = append(ss, s)
	}
	return ss
}

func benchOut(set, get string) string {
	return `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n" +
		`"SET","` + set + `","0.3","0.1","0.30","0.5","0.7","2.0"` + "\n" +
		`"GET","` + get + `","0.3","0.1","0.25","0.5","0.7","2.0"` + "\n"
}

func churnOut(rps string) string {
	return `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n" +
		`"PING_MBULK","` + rps + `","3.7","0.5","3.40","6.7","10.0","11.0"` + "\n"
}

// cannedSamples: three rounds of direct, haproxy and moat, P1 and churn only; the medians are the
// middle values by construction.
func cannedSamples(t *testing.T) []Sample {
	var ss []Sample
	cpu := func(proxy, redis float64) Sample {
		return Sample{Ops: 400000, WallSec: 5, ClientCPU: 4, ProxyCPU: proxy, RedisCPU: redis, OtherCPU: 0.5, SoftirqCPU: 0.25}
	}
	for r, v := range []struct{ dSet, dGet, hSet, hGet, mSet, mGet string }{
		{"80000", "78000", "50000", "52000", "44000", "45000"},
		{"82000", "80000", "51000", "50000", "40000", "46000"},
		{"70000", "81000", "52000", "51000", "48000", "47000"},
	} {
		round := r + 1
		ss = append(ss, samplesFrom(t, round, "direct", benchOut(v.dSet, v.dGet), 1, cpu(0, 3.5))...)
		ss = append(ss, samplesFrom(t, round, "haproxy", benchOut(v.hSet, v.hGet), 1, cpu(3.6, 3.4))...)
		ss = append(ss, samplesFrom(t, round, "moat", benchOut(v.mSet, v.mGet), 1, cpu(4, 3.4))...)
		ss = append(ss, samplesFrom(t, round, "moat+acl", benchOut("40000", "36000"), 1, cpu(4.2, 3.4))...)
		ss = append(ss, samplesFrom(t, round, "moat+acl", churnOut("7500"), 0, Sample{Ops: 50000, WallSec: 6.6, ProxyCPU: 7})...)
		ss = append(ss, samplesFrom(t, round, "direct", churnOut("15000"), 0, Sample{Ops: 50000, WallSec: 3.3})...)
		ss = append(ss, samplesFrom(t, round, "moat", churnOut("9000"), 0, Sample{Ops: 50000, WallSec: 5.5, ProxyCPU: 5.5})...)
	}
	flood := func(round int, test string, rps float64, floodConns int64) Sample {
		return Sample{Round: round, Target: "moat", Test: test, RPS: rps, Ops: 200000, WallSec: 4, ProxyCPU: 3,
			FloodCPU: 1, FloodConns: floodConns}
	}
	ss = append(ss, flood(1, TestFloodOff, 44000, 0), flood(1, TestFloodOn, 33000, 40000),
		flood(2, TestFloodOff, 46000, 0), flood(2, TestFloodOn, 34500, 44000))
	return ss
}

var cannedTargets = []Target{
	{Name: "direct", Label: "direct redis-server"},
	{Name: "haproxy", Label: "HAProxy"},
	{Name: "moat", Label: "moat"},
	{Name: "moat+acl", Label: "moat + ACL user", Auth: true, User: "bench"},
	{Name: "envoy", Label: "Envoy", Skip: "not installed"},
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestAggregate(t *testing.T) {
	sum := Aggregate(cannedTargets, cannedSamples(t))
	check := func(target, test string, rps, ratio float64) {
		t.Helper()
		c := sum.Cells[target][test]
		if c == nil {
			t.Fatalf("%s %s: no cell", target, test)
		}
		if !near(c.RPS, rps) || !(near(c.Ratio, ratio) || math.IsNaN(ratio) && math.IsNaN(c.Ratio)) {
			t.Errorf("%s %s: median %v ratio %v, want %v %v", target, test, c.RPS, c.Ratio, rps, ratio)
		}
	}
	check("direct", TestP1Set, 80000, 1)
	check("direct", TestP1Get, 80000, 1)
	check("haproxy", TestP1Set, 51000, 51000.0/80000)
	check("haproxy", TestP1Get, 51000, 51000.0/80000)
	check("moat", TestP1Set, 44000, 44000.0/80000)
	check("moat", TestP1Get, 46000, 46000.0/80000)
	check("moat", TestChurn, 9000, 0.6)
	if sum.Cells["haproxy"][TestChurn] != nil || sum.Cells["direct"][TestP16Set] != nil {
		t.Error("cells without samples must be absent")
	}
	check("moat+acl", TestP1Get, 36000, 36000.0/80000)
	check("moat+acl", TestChurn, 7500, 0.5)
	if _, ok := sum.Cells["envoy"]; ok {
		t.Error("a skipped target must have no cells")
	}
	c := sum.Cells["moat"][TestP1Set]
	if c.N != 3 || c.Min != 40000 || c.Max != 48000 {
		t.Errorf("moat P1 SET: n %d spread %v–%v", c.N, c.Min, c.Max)
	}
	// 4 s of moat CPU over a 5 s run of 400,000 requests.
	if !near(c.ProxyCores, 0.8) || !near(c.ProxyUsPerOp, 10) || !near(c.RedisUsPerOp, 8.5) || !near(c.ClientCores, 0.8) || !near(c.OtherCores, 0.1) || !near(c.SoftirqCores, 0.05) {
		t.Errorf("moat P1 SET CPU: %+v", c)
	}
	if d := sum.Cells["direct"][TestP1Set]; d.ProxyCores != 0 {
		t.Errorf("direct has no proxy: %v", d.ProxyCores)
	}
	if ch := sum.Cells["moat"][TestChurn]; !near(ch.ProxyUsPerOp, 110) || !near(ch.ProxyCores, 1) {
		t.Errorf("moat churn: %v µs/conn, %v cores", ch.ProxyUsPerOp, ch.ProxyCores)
	}
	f := sum.Flood
	if f == nil || f.Off == nil || f.On == nil {
		t.Fatalf("flood: %+v", f)
	}
	if !near(f.Off.RPS, 45000) || !near(f.On.RPS, 33750) || !near(f.Ratio, 0.75) || !near(f.On.FloodConnsPerSec, 10500) || !near(f.On.FloodCores, 0.25) {
		t.Errorf("flood: off %v on %v ratio %v refused/s %v flood cores %v", f.Off.RPS, f.On.RPS, f.Ratio, f.On.FloodConnsPerSec, f.On.FloodCores)
	}
}

func TestMedian(t *testing.T) {
	if !math.IsNaN(Median(nil)) {
		t.Error("empty: want NaN")
	}
	xs := []float64{3, 1, 2}
	if Median(xs) != 2 || xs[0] != 3 {
		t.Error("odd count, or input modified")
	}
	if Median([]float64{4, 1, 3, 2}) != 2.5 {
		t.Error("even count")
	}
}

func TestSamplesRoundTrip(t *testing.T) {
	in := cannedSamples(t)
	in[0].Note = `odd, "quoted" note`
	var b bytes.Buffer
	w, err := NewSampleWriter(&b, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range in {
		if err := w.Write(s); err != nil {
			t.Fatal(err)
		}
	}
	out, err := ReadSamples(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d samples back, want %d", len(out), len(in))
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("sample %d: %+v, want %+v", i, out[i], in[i])
		}
	}
	if _, err := ReadSamples(strings.NewReader("1,direct,P1 SET,fast,0,1,1,0,0,0,0,0,0,0,\n")); err == nil {
		t.Error("bad number: want an error")
	}
}

// The whole report path on canned data: table, results.csv and the chart.
func TestReport(t *testing.T) {
	sum := Aggregate(cannedTargets, cannedSamples(t))
	sum.Idle = &IdleResult{Requested: 10000, Conns: 10000, RSSBefore: 20 << 20, RSSAfter: 20<<20 + 10000*20000, BytesPerConn: 20000}
	var tb bytes.Buffer
	WriteTable(&tb, sum)
	table := tb.String()
	for _, want := range []string{
		"| direct redis-server | 80,000 (1.00) | 80,000 (1.00) | – | – | 15,000 (1.00) | 3 |",
		"| HAProxy | 51,000 (0.64) | 51,000 (0.64) | – | – | – | 3 |",
		"| moat | 44,000 (0.55) | 46,000 (0.57) | – | – | 9,000 (0.60) | 3 |",
		"| moat + ACL user | 40,000 (0.50) | 36,000 (0.45) | – | – | 7,500 (0.50) | 3 |",
		"\nmoat+acl: redis-benchmark logs in as ACL user \"bench\" (AUTH bench password) on every connection it opens, so each new connection of churn includes an AUTH",
		"| Envoy | skipped: not installed |",
		"moat+acl against issue 7's targets:\n",
		"| moat | P1 SET | 0.300 | 0.80 | 10.0 | 0.68 | 8.5 | 0.80 | 0.10 (0.05) | 40,000–48,000 |",
		"| flood | 33,750 | 2 |",
		"Served with flood / without: 0.75; moat CPU per refused connection ≈ 23.2 µs",
		"moat against issue 7's targets:\n",
		"20,000 bytes per connection",
		"- P1 SET: 0.55 (target ≥ 0.90) MISSED",
		"- idle memory: 20,000 bytes/connection (target ≤ 16,384) MISSED",
		"- refusal flood: served 0.75 of unflooded (target ≥ 0.90) MISSED",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	var cb bytes.Buffer
	if err := WriteResultsCSV(&cb, sum); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&cb).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, r := range recs[1:] {
		if len(r) != len(resultsHeader) {
			t.Fatalf("row %v: %d fields", r, len(r))
		}
		rows[r[0]+"/"+r[1]] = r
	}
	if r := rows["moat/P1 GET"]; r == nil || r[3] != "46000.00" || r[6] != "0.5750" {
		t.Errorf("moat P1 GET row: %v", r)
	}
	if strings.Count(table, "- idle memory:") != 1 || strings.Count(table, "- refusal flood:") != 1 || strings.Count(table, "AUTH bench password") != 1 {
		t.Error("idle and flood verdicts are moat's only, the AUTH note is said once")
	}
	if r := rows["envoy/"]; r == nil || !strings.HasPrefix(r[19], "skipped") {
		t.Errorf("skipped row: %v", r)
	}
	if r := rows["moat+acl/"+TestChurn]; r == nil || r[6] != "0.5000" || !strings.Contains(r[19], "AUTH") {
		t.Errorf("moat+acl churn row: %v", r)
	}
	if r := rows["moat/"+TestChurn]; r == nil || r[19] != "" {
		t.Errorf("moat churn row: %v", r)
	}
	if r := rows["moat/"+TestFloodOn]; r == nil || r[6] != "0.7500" || r[14] != "10500" || r[17] != "23.2" {
		t.Errorf("flood row: %v", r)
	}
	if r := rows["moat/idle memory"]; r == nil || r[17] != "20000" || r[18] != "bytes/connection" {
		t.Errorf("idle row: %v", r)
	}
	png := filepath.Join(t.TempDir(), "chart.png")
	if err := WriteChart(png, "canned", sum); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 5000 {
		t.Errorf("chart: %d bytes, %v", len(b), err)
	}
}

func TestAllowList(t *testing.T) {
	l := AllowList(7, 1000, loopback)
	if len(l) != 1000 || l[999] != loopback {
		t.Fatalf("%d entries, last %v", len(l), l[len(l)-1])
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range l[:999] {
		if seen[p] || p != p.Masked() || p.Bits() < 16 || !p.Addr().Is4() || p.Overlaps(loopback) {
			t.Fatalf("bad entry %v", p)
		}
		seen[p] = true
	}
	if again := AllowList(7, 1000, loopback); again[500] != l[500] {
		t.Error("same seed, different list")
	}
	one := netip.MustParsePrefix("127.0.0.0/31") // what the flood instance admits of loopback
	fl := AllowList(8, 1000, one)
	admits := func(list []netip.Prefix, a string) bool {
		for _, p := range list {
			if p.Contains(netip.MustParseAddr(a)) {
				return true
			}
		}
		return false
	}
	if !admits(fl, "127.0.0.1") || admits(fl, "127.0.0.2") || !admits(l, "127.0.0.77") {
		t.Error("the flood list must admit 127.0.0.1 but not 127.0.0.2, the main list all of 127.0.0.0/8")
	}
	if got := HAProxyAllowFile(fl); strings.Count(got, "\n") != 1000 || !strings.HasSuffix(got, "\n127.0.0.0/31\n") {
		t.Errorf("allow file ends %q", got[len(got)-30:])
	}
}

func TestMoatConfig(t *testing.T) {
	l := AllowList(7, 1000, loopback)
	groups := SplitGroups(l, 10)
	for i, g := range groups {
		if len(g) != 100 {
			t.Errorf("group %d: %d entries", i, len(g))
		}
	}
	if g := SplitGroups(l[:7], 3); len(g[0]) != 3 || len(g[1]) != 2 || len(g[2]) != 2 {
		t.Errorf("uneven split: %v", g)
	}
	cfg := MoatConfig("/tmp/d", "127.0.0.1:9", []MoatInstance{{ID: "r-bench", Listen: "127.0.0.1:8", Backend: "redis://127.0.0.1:7", Entries: l, Groups: 10}})
	if strings.Count(cfg, "- group: ") != 10 || !strings.Contains(cfg, "- group: default\n") || !strings.Contains(cfg, "- group: bench9\n") ||
		!strings.Contains(cfg, ", 127.0.0.0/8]\n") || strings.Count(cfg, ", ") != 990 {
		t.Errorf("config:\n%s", cfg[:min(len(cfg), 600)])
	}
	cfg = MoatConfig("/tmp/d", "127.0.0.1:9", []MoatInstance{{ID: "r-benchacl", Listen: "127.0.0.1:8", Backend: "redis://127.0.0.1:7",
		Entries: l[:4], Groups: 1, Params: map[string]string{"requirepass": "0123abcd", "timeout": "0"}}})
	if !strings.Contains(cfg, "    backend: \"redis://127.0.0.1:7\"\n    params:\n      \"requirepass\": \"0123abcd\"\n      \"timeout\": \"0\"\n    whitelist:\n      - group: default\n") {
		t.Errorf("config with params:\n%s", cfg)
	}
	if h := HAProxyConfig("127.0.0.1:2", "127.0.0.1:1", "/x/allow.lst"); !strings.Contains(h, "tcp-request connection reject unless { src -f /x/allow.lst }") {
		t.Error(h)
	}
	if n := NutcrackerConfig("127.0.0.1:3", "127.0.0.1:1"); !strings.Contains(n, "server_connections: 1") || !strings.Contains(n, "- 127.0.0.1:1:1") {
		t.Error(n)
	}
}

func TestProcParsers(t *testing.T) {
	stat := "4242 (moat (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	if cpu, err := ParseProcStatCPU(stat); err != nil || !near(cpu, 3.25) {
		t.Errorf("stat: %v %v", cpu, err)
	}
	if _, err := ParseProcStatCPU("4242 (x) S 1"); err == nil {
		t.Error("short stat: want an error")
	}
	ps := "cpu  100 20 30 5000 40 5 6 7 0 0\ncpu0 50 10 15 2500 20 2 3 3 0 0\n"
	if busy, si, err := ParseBoxBusy(ps); err != nil || !near(busy, 1.68) || !near(si, 0.06) {
		t.Errorf("/proc/stat: %v %v %v", busy, si, err)
	}
	st := "Name:\tmoat\nVmPeak:\t  999 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n"
	if rss, err := ParseStatusRSS(st); err != nil || rss != 20480*1024 {
		t.Errorf("status: %v %v", rss, err)
	}
	if _, err := ParseStatusRSS("Name:\tkthreadd\n"); err == nil {
		t.Error("no VmRSS: want an error")
	}
	m, err := MetricValues(strings.NewReader("# HELP go_goroutines x\ngo_goroutines 20015\ngo_memstats_heap_inuse_bytes 1.2345e+08\ngo_gc_duration_seconds{quantile=\"0\"} 1e-05\n"),
		"go_goroutines", "go_memstats_heap_inuse_bytes", "absent")
	if err != nil || m["go_goroutines"] != 20015 || m["go_memstats_heap_inuse_bytes"] != 1.2345e8 || len(m) != 2 {
		t.Errorf("metrics: %v %v", m, err)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1273885.2: "1,273,885", -12345: "-12,345", math.NaN(): "–"} {
		if got := Thousands(v); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
