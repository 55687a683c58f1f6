package engine

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2/server"
)

// INFO answers as redis-server 7.0.15 does: the same sections in the same order, each with the same
// fields, the values the engine's own where it has them (uptime, clients, the Go runtime's memory,
// the log's state, commands, errors, CPU time, keys) and Redis's values for a lone master with no
// RDB, no modules and no cluster elsewhere. Sections are chosen as Redis chooses them: none or
// "default", "all" (adds commandstats and latencystats), "everything", or any list of names (any case);
// unknown names are ignored, and a list of only unknown names gets an empty reply.

// infoSection is one of INFO's sections: its name, and whether "default" has it.
type infoSection struct {
	name      string
	inDefault bool
}

// infoSections are Redis 7.0.15's sections in its order.
func infoSections() []infoSection {
	return []infoSection{
		{"server", true}, {"clients", true}, {"memory", true}, {"persistence", true}, {"stats", true},
		{"replication", true}, {"cpu", true}, {"modules", true}, {"commandstats", false},
		{"errorstats", true}, {"latencystats", false}, {"cluster", true}, {"keyspace", true},
	}
}

// infoWanted is the set of sections args ask for.
func infoWanted(args []string) map[string]bool {
	want := map[string]bool{}
	if len(args) == 0 {
		args = []string{"default"}
	}
	for _, a := range args {
		switch a = strings.ToLower(a); a {
		case "default", "all", "everything":
			for _, s := range infoSections() {
				if s.inDefault || a != "default" {
					want[s.name] = true
				}
			}
		default:
			want[a] = true
		}
	}
	return want
}

// info is INFO run from a script or a transaction (the pre-hook): the library's lock is held or may
// be, so the keyspace section lists no database.
func (e *Engine) info(p *server.Peer, args []string) {
	p.WriteBulk(e.infoText(args, false))
}

// infoText renders the sections args ask for; keyspace: list the databases (reads every key's TTL
// through the library: not while its lock is held).
func (e *Engine) infoText(args []string, keyspace bool) string {
	want := infoWanted(args)
	var parts []string
	for _, s := range infoSections() {
		if !want[s.name] {
			continue
		}
		var b strings.Builder
		b.WriteString("# " + infoTitle(s.name) + "\r\n")
		for _, kv := range e.infoFields(s.name, keyspace) {
			b.WriteString(kv[0] + ":" + kv[1] + "\r\n")
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, "\r\n")
}

// infoTitle is a section's heading ("CPU", "Commandstats", …).
func infoTitle(name string) string {
	if name == "cpu" {
		return "CPU"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// infoFields is one section's fields in Redis's order.
func (e *Engine) infoFields(name string, keyspace bool) [][2]string {
	st := e.stats
	now := time.Now()
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch name {
	case "server":
		exe, _ := os.Executable()
		up := int64(now.Sub(st.started) / time.Second)
		return [][2]string{
			{"redis_version", "7.0.15"}, {"redis_git_sha1", "00000000"}, {"redis_git_dirty", "0"},
			{"redis_build_id", "0"}, {"redis_mode", "standalone"}, {"os", hostOS()},
			{"arch_bits", strconv.Itoa(strconv.IntSize)}, {"monotonic_clock", "POSIX clock_gettime"},
			{"multiplexing_api", multiplexingAPI()}, {"atomicvar_api", "c11-builtin"}, {"gcc_version", "0.0.0"},
			{"process_id", strconv.Itoa(os.Getpid())}, {"process_supervised", "no"}, {"run_id", st.runID},
			{"tcp_port", "0"}, {"server_time_usec", i(now.UnixMicro())}, {"uptime_in_seconds", i(up)},
			{"uptime_in_days", i(up / 86400)}, {"hz", "10"}, {"configured_hz", "10"},
			{"lru_clock", i(now.Unix() & (1<<24 - 1))}, {"executable", exe}, {"config_file", ""},
			{"io_threads_active", "0"},
		}
	case "clients":
		e.mu.Lock()
		n := len(e.conns)
		e.mu.Unlock()
		return [][2]string{
			{"connected_clients", strconv.Itoa(n)}, {"cluster_connections", "0"}, {"maxclients", "10000"},
			{"client_recent_max_input_buffer", "0"}, {"client_recent_max_output_buffer", "0"},
			{"blocked_clients", i(st.blocked.Load())}, {"tracking_clients", "0"}, {"clients_in_timeout_table", i(st.blocked.Load())},
		}
	case "memory":
		return e.infoMemory()
	case "persistence":
		return e.infoPersistence(now)
	case "stats":
		return [][2]string{
			{"total_connections_received", i(st.connections.Load())}, {"total_commands_processed", i(st.commands.Load())},
			{"instantaneous_ops_per_sec", i(st.opsPerSec.Load())}, {"total_net_input_bytes", i(st.netIn.Load())},
			{"total_net_output_bytes", i(st.netOut.Load())}, {"total_net_repl_input_bytes", "0"},
			{"total_net_repl_output_bytes", "0"}, {"instantaneous_input_kbps", "0.00"},
			{"instantaneous_output_kbps", "0.00"}, {"instantaneous_input_repl_kbps", "0.00"},
			{"instantaneous_output_repl_kbps", "0.00"}, {"rejected_connections", "0"}, {"sync_full", "0"},
			{"sync_partial_ok", "0"}, {"sync_partial_err", "0"}, {"expired_keys", "0"}, {"expired_stale_perc", "0.00"},
			{"expired_time_cap_reached_count", "0"}, {"expire_cycle_cpu_milliseconds", "0"}, {"evicted_keys", "0"},
			{"evicted_clients", "0"}, {"total_eviction_exceeded_time", "0"}, {"current_eviction_exceeded_time", "0"},
			{"keyspace_hits", "0"}, {"keyspace_misses", "0"}, {"pubsub_channels", strconv.Itoa(len(e.m.PubSubChannels("")))},
			{"pubsub_patterns", strconv.Itoa(e.m.PubSubNumPat())}, {"pubsubshard_channels", "0"}, {"latest_fork_usec", "0"},
			{"total_forks", "0"}, {"migrate_cached_sockets", "0"}, {"slave_expires_tracked_keys", "0"},
			{"active_defrag_hits", "0"}, {"active_defrag_misses", "0"}, {"active_defrag_key_hits", "0"},
			{"active_defrag_key_misses", "0"}, {"total_active_defrag_time", "0"}, {"current_active_defrag_time", "0"},
			{"tracking_total_keys", "0"}, {"tracking_total_items", "0"}, {"tracking_total_prefixes", "0"},
			{"unexpected_error_replies", "0"}, {"total_error_replies", i(st.errorReplies.Load())},
			{"dump_payload_sanitizations", "0"}, {"total_reads_processed", i(st.commands.Load())},
			{"total_writes_processed", i(st.commands.Load())}, {"io_threaded_reads_processed", "0"},
			{"io_threaded_writes_processed", "0"}, {"reply_buffer_shrinks", "0"}, {"reply_buffer_expands", "0"},
		}
	case "replication":
		return [][2]string{
			{"role", "master"}, {"connected_slaves", "0"}, {"master_failover_state", "no-failover"},
			{"master_replid", st.replID}, {"master_replid2", strings.Repeat("0", 40)}, {"master_repl_offset", "0"},
			{"second_repl_offset", "-1"}, {"repl_backlog_active", "0"}, {"repl_backlog_size", "1048576"},
			{"repl_backlog_first_byte_offset", "0"}, {"repl_backlog_histlen", "0"},
		}
	case "cpu":
		sys, user, csys, cuser := cpuSeconds()
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }
		return [][2]string{
			{"used_cpu_sys", f(sys)}, {"used_cpu_user", f(user)}, {"used_cpu_sys_children", f(csys)},
			{"used_cpu_user_children", f(cuser)}, {"used_cpu_sys_main_thread", f(sys)}, {"used_cpu_user_main_thread", f(user)},
		}
	case "commandstats", "latencystats":
		return e.infoCommands(name == "latencystats")
	case "errorstats":
		st.mu.Lock()
		defer st.mu.Unlock()
		var out [][2]string
		for _, code := range slices.Sorted(maps.Keys(st.errorCodes)) {
			out = append(out, [2]string{"errorstat_" + code, "count=" + i(st.errorCodes[code])})
		}
		return out
	case "cluster":
		return [][2]string{{"cluster_enabled", "0"}}
	case "keyspace":
		if !keyspace {
			return nil
		}
		return e.infoKeyspace()
	}
	return nil
}

// infoMemory is the memory section: the Go runtime's heap as the allocator's, the resident set.
func (e *Engine) infoMemory() [][2]string {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	used, rss := ms.HeapAlloc, residentMemory()
	st := e.stats
	st.mu.Lock()
	st.peakMemory = max(st.peakMemory, used)
	peak := st.peakMemory
	st.mu.Unlock()
	total := totalMemory()
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	ratio := func(a, b uint64) string {
		if b == 0 {
			return "0.00"
		}
		return strconv.FormatFloat(float64(a)/float64(b), 'f', 2, 64)
	}
	diff := func(a, b uint64) string { return strconv.FormatInt(int64(a)-int64(b), 10) }
	active, resident := ms.HeapInuse, ms.HeapSys-ms.HeapReleased
	return [][2]string{
		{"used_memory", u(used)}, {"used_memory_human", humanBytes(used)}, {"used_memory_rss", u(rss)},
		{"used_memory_rss_human", humanBytes(rss)}, {"used_memory_peak", u(peak)}, {"used_memory_peak_human", humanBytes(peak)},
		{"used_memory_peak_perc", strconv.FormatFloat(100*float64(used)/float64(max(peak, 1)), 'f', 2, 64) + "%"},
		{"used_memory_overhead", "0"}, {"used_memory_startup", "0"}, {"used_memory_dataset", u(used)},
		{"used_memory_dataset_perc", "100.00%"}, {"allocator_allocated", u(used)}, {"allocator_active", u(active)},
		{"allocator_resident", u(resident)}, {"total_system_memory", u(total)}, {"total_system_memory_human", humanBytes(total)},
		{"used_memory_lua", "0"}, {"used_memory_vm_eval", "0"}, {"used_memory_lua_human", "0B"},
		{"used_memory_scripts_eval", "0"}, {"number_of_cached_scripts", "0"}, {"number_of_functions", "0"},
		{"number_of_libraries", "0"}, {"used_memory_vm_functions", "0"}, {"used_memory_vm_total", "0"},
		{"used_memory_vm_total_human", "0B"}, {"used_memory_functions", "0"}, {"used_memory_scripts", "0"},
		{"used_memory_scripts_human", "0B"}, {"maxmemory", "0"}, {"maxmemory_human", "0B"},
		{"maxmemory_policy", "noeviction"}, {"allocator_frag_ratio", ratio(active, used)},
		{"allocator_frag_bytes", diff(active, used)}, {"allocator_rss_ratio", ratio(resident, active)},
		{"allocator_rss_bytes", diff(resident, active)}, {"rss_overhead_ratio", ratio(rss, resident)},
		{"rss_overhead_bytes", diff(rss, resident)}, {"mem_fragmentation_ratio", ratio(rss, used)},
		{"mem_fragmentation_bytes", diff(rss, used)}, {"mem_not_counted_for_evict", "0"},
		{"mem_replication_backlog", "0"}, {"mem_total_replication_buffers", "0"}, {"mem_clients_slaves", "0"},
		{"mem_clients_normal", "0"}, {"mem_cluster_links", "0"}, {"mem_aof_buffer", "0"}, {"mem_allocator", "libc"},
		{"active_defrag_running", "0"}, {"lazyfree_pending_objects", "0"}, {"lazyfreed_objects", "0"},
	}
}

// infoPersistence is the persistence section: no RDB; the append-only log's state.
func (e *Engine) infoPersistence(now time.Time) [][2]string {
	st := e.stats
	l := e.log
	l.mu.Lock()
	size, base, pending, writeErr, units := l.size, l.base, len(l.pending), l.err, l.units
	l.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	status := func(bad bool) string {
		if bad {
			return "err"
		}
		return "ok"
	}
	last := "-1"
	if st.rewrites > 0 || st.lastRewriteErr {
		last = strconv.FormatInt(int64(st.lastRewrite/time.Second), 10)
	}
	b01 := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	return [][2]string{
		{"loading", "0"}, {"async_loading", "0"}, {"current_cow_peak", "0"}, {"current_cow_size", "0"},
		{"current_cow_size_age", "0"}, {"current_fork_perc", "0.00"}, {"current_save_keys_processed", "0"},
		{"current_save_keys_total", "0"}, {"rdb_changes_since_last_save", strconv.FormatInt(units, 10)},
		{"rdb_bgsave_in_progress", "0"}, {"rdb_last_save_time", strconv.FormatInt(st.started.Unix(), 10)},
		{"rdb_last_bgsave_status", "ok"}, {"rdb_last_bgsave_time_sec", "-1"}, {"rdb_current_bgsave_time_sec", "-1"},
		{"rdb_saves", "0"}, {"rdb_last_cow_size", "0"}, {"rdb_last_load_keys_expired", "0"},
		{"rdb_last_load_keys_loaded", "0"}, {"aof_enabled", "1"}, {"aof_rewrite_in_progress", b01(st.rewriting)},
		{"aof_rewrite_scheduled", "0"}, {"aof_last_rewrite_time_sec", last}, {"aof_current_rewrite_time_sec", "-1"},
		{"aof_last_bgrewrite_status", status(st.lastRewriteErr)}, {"aof_rewrites", strconv.Itoa(st.rewrites)},
		{"aof_rewrites_consecutive_failures", strconv.Itoa(st.rewriteFails)},
		{"aof_last_write_status", status(writeErr != nil)}, {"aof_last_cow_size", "0"},
		{"module_fork_in_progress", "0"}, {"module_fork_last_cow_size", "0"},
		{"aof_current_size", strconv.FormatInt(size, 10)}, {"aof_base_size", strconv.FormatInt(base, 10)},
		{"aof_pending_rewrite", "0"}, {"aof_buffer_length", strconv.Itoa(pending)}, {"aof_pending_bio_fsync", "0"},
		{"aof_delayed_fsync", "0"},
	}
}

// infoCommands is the commandstats section, or (latency) the latencystats one.
func (e *Engine) infoCommands(latency bool) [][2]string {
	st := e.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	var out [][2]string
	for _, name := range slices.Sorted(maps.Keys(st.perCommand)) {
		cs := st.perCommand[name]
		if latency {
			out = append(out, [2]string{"latency_percentiles_usec_" + name, fmt.Sprintf("p50=%d.000,p99=%d.000,p99.9=%d.000",
				cs.percentile(50), cs.percentile(99), cs.percentile(99.9))})
			continue
		}
		out = append(out, [2]string{"cmdstat_" + name, fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=0,failed_calls=%d",
			cs.calls, cs.usec, float64(cs.usec)/float64(max(cs.calls, 1)), cs.failed)})
	}
	return out
}

// keyspaceExact is the largest database whose expiries INFO counts at each call; a larger one's count
// (a pass over all its keys) is kept for keyspaceReuse.
const (
	keyspaceExact = 10_000
	keyspaceReuse = 5 * time.Second
)

// expiries is a database's count of keys with an expiry and their mean TTL, as last counted.
type expiries struct {
	at           time.Time
	count, avgMs int64
}

// infoKeyspace lists each database that has keys: how many, how many with an expiry, their mean TTL
// in milliseconds (for a database of more than keyspaceExact keys, as counted up to keyspaceReuse ago).
func (e *Engine) infoKeyspace() [][2]string {
	var out [][2]string
	r := e.reader(0)
	for db := 0; db <= maxDB; db++ {
		r.do("SELECT", strconv.Itoa(db))
		n, _ := r.do("DBSIZE").(int)
		if n == 0 {
			continue
		}
		x := e.expiries(db, n)
		out = append(out, [2]string{"db" + strconv.Itoa(db), fmt.Sprintf("keys=%d,expires=%d,avg_ttl=%d", n, x.count, x.avgMs)})
	}
	return out
}

// expiries counts database db's keys with an expiry (it has n keys), or reuses a recent count.
func (e *Engine) expiries(db, n int) expiries {
	st := e.stats
	st.mu.Lock()
	x, ok := st.expiries[db]
	st.mu.Unlock()
	if ok && n > keyspaceExact && time.Since(x.at) < keyspaceReuse {
		return x
	}
	d := e.m.DB(db)
	var ttl time.Duration
	x = expiries{at: time.Now()}
	for _, k := range d.Keys() {
		if t := d.TTL(k); t > 0 {
			x.count++
			ttl += t
		}
	}
	if x.count > 0 {
		x.avgMs = (ttl / time.Duration(x.count)).Milliseconds()
	}
	st.mu.Lock()
	st.expiries[db] = x
	st.mu.Unlock()
	return x
}

// humanBytes is Redis's bytesToHuman: "200B", "919.27K", "6.54M", …
func humanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	v := float64(n)
	for _, unit := range "KMGTP" {
		v /= 1024
		if v < 1024 || unit == 'P' {
			return strconv.FormatFloat(v, 'f', 2, 64) + string(unit)
		}
	}
	return ""
}

// multiplexingAPI is the poller Go's network code uses here.
func multiplexingAPI() string {
	switch runtime.GOOS {
	case "linux":
		return "epoll"
	case "darwin", "freebsd", "netbsd", "openbsd", "dragonfly":
		return "kqueue"
	}
	return "select"
}
