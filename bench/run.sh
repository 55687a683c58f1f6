#!/usr/bin/env bash
# moat's benchmark harness (issue 7, part 1): moat against direct Redis, HAProxy and twemproxy in one run.
#
#   make bench-harness                # 5 rounds (about 5–10 minutes on 2 cores)
#   ROUNDS=1 make bench-harness       # smoke run
#
# Installs what it needs from Debian when missing (redis-server, redis-tools, haproxy, nutcracker), builds
# moat from the working tree, starts on loopback with free ports: a direct redis-server, HAProxy (TCP mode,
# 1,000-CIDR allow list), twemproxy (one server connection), the reference's two naive Go relays (L4 io.Copy;
# RESP: redcon reader, per-command check, the same allow list) and moat (1,000-entry whitelist over 10 groups)
# in front of it: plain (r-bench), on dedicated lanes alone (r-benchded, shared-lanes 0) and as the instance
# r-benchacl (the same whitelist, requirepass set, and an ACL user "bench" with 20 key patterns and 5
# categories that redis-benchmark logs in as, which makes it AUTH on every connection, churn's included),
# then runs redis-benchmark against each in turn, round-robin:
#   -t set,get -n 200000 -c 50 -P 1   and   -P 16     (ops/s)
#   -t ping_mbulk -n 50000 -c 50 -k 0                 (new connections/s)
# plus, for moat only, an idle-memory test (10,000 idle connections, or as many as the open-file limit
# allows) and a refusal-flood test (served throughput with and without a connect-and-refuse flood from a
# non-whitelisted address). It records the CPU every process used in every run (/proc/<pid>/stat), prints
# a table of medians and ratios to direct Redis, and writes results.csv, chart.png, summary.md, the raw
# samples and every log into bench/out/<UTC time>/ (OUT= to choose).
#
# Settings (environment): ROUNDS (5; 0: the idle-memory test alone), REQUESTS (200000), CLIENTS (50),
# CHURN_N (50000), IDLE_CONNS (10000), IDLE_SETTLE (15s: the wait before each RSS reading of the idle test —
# moat parks a connection idle for 0.5 s, and the Go runtime returns the memory its goroutines held over
# seconds),
# FLOOD (1; 0 skips the flood test), FLOOD_RATE (5000: open-loop connection attempts a second; 0: closed
# loops instead), FLOOD_WORKERS (2, the closed loops), FLOOD_NICE (0: niceness added to the flood client),
# NICE (-10: niceness of every server and of the client, as in the reference baseline; needs root),
# MOAT_BIN (use this moat binary instead of building one), MOAT_REF (build moat from this git revision
# instead of the working tree, e.g. when the tree is mid-edit), RUN_TIMEOUT (3m per redis-benchmark run),
# DEADLINE (90m for all rounds).
#
# Every process it starts is stopped on exit, failure or Ctrl-C; every wait is bounded; all traffic stays
# on 127.0.0.0/8.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
CHURN_N=${CHURN_N:-50000}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SETTLE=${IDLE_SETTLE:-15s}
FLOOD=${FLOOD:-1}
FLOOD_WORKERS=${FLOOD_WORKERS:-2}
FLOOD_NICE=${FLOOD_NICE:-0}
FLOOD_RATE=${FLOOD_RATE:-5000}
NICE=${NICE:--10}
RUN_TIMEOUT=${RUN_TIMEOUT:-3m}
DEADLINE=${DEADLINE:-90m}

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
OUT=${OUT:-$bench_dir/out/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$OUT/work
mkdir -p "$work" "$OUT/bin"

say() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(uname -s)" = Linux ] || die "Linux only (reads /proc)"
[ "$(getconf CLK_TCK)" = 100 ] || die "CLK_TCK is $(getconf CLK_TCK), the CPU accounting assumes 100"
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS=$ROUNDS: want a number" ;; esac

# --- what it needs from Debian ----------------------------------------------------------------------
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v nutcracker >/dev/null 2>&1 || need+=(nutcracker)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  say "installing ${need[*]} from Debian"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  # The packages may start system services on default ports; the harness starts its own copies on free
  # ports and never talks to those.
fi

# --- build ------------------------------------------------------------------------------------------
moat_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "${MOAT_BIN:-}" ]; then
  cp "$MOAT_BIN" "$OUT/bin/moat"
  moat_desc="moat binary $MOAT_BIN"
elif [ -n "${MOAT_REF:-}" ]; then
  moat_rev=$(git -C "$root" rev-parse --short "$MOAT_REF")
  say "building moat $moat_rev from a clean export of $MOAT_REF"
  mkdir -p "$work/src"
  git -C "$root" archive "$MOAT_REF" | tar -x -C "$work/src"
  (cd "$work/src" && go build -o "$OUT/bin/moat" ./cmd/moat)
  moat_desc="moat $moat_rev (MOAT_REF=$MOAT_REF)"
else
  say "building moat from the working tree ($moat_rev)"
  (cd "$root" && go build -o "$OUT/bin/moat" ./cmd/moat)
  dirty=""
  git -C "$root" diff --quiet HEAD -- . ':!bench' 2>/dev/null || dirty=" + uncommitted changes"
  moat_desc="moat $moat_rev$dirty (working tree)"
fi
(cd "$bench_dir" && go build -o "$OUT/bin/moatbench" ./cmd/moatbench)
mb=$OUT/bin/moatbench

# --- processes, and their cleanup -------------------------------------------------------------------
pids=()
fg_pid=""
# fg runs a long step in the background and waits for it: bash runs a trap only once the foreground
# command ends, but a trapped signal interrupts `wait` at once, so Ctrl-C and TERM stop the harness
# without waiting for the step to finish.
fg() {
  "$@" &
  fg_pid=$!
  local rc=0
  wait "$fg_pid" || rc=$?
  fg_pid=""
  return "$rc"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The running step first (it stops its redis-benchmark and flood client), then the servers, newest first.
  local all=()
  [ -n "$fg_pid" ] && all+=("$fg_pid")
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do all+=("${pids[$i]}"); done
  for pid in "${all[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${all[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [ ${#pids[@]} -gt 0 ] && say "stopped ${#pids[@]} processes (logs in $work)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Open-file limit: as high as we may (10,000 idle connections through moat need 20,000 descriptors).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)

mapfile -t ports < <("$mb" freeports -n 13)
p_redis=${ports[0]} p_haproxy=${ports[1]} p_twem=${ports[2]} p_twem_stats=${ports[3]}
p_moat=${ports[4]} p_moat_flood=${ports[5]} p_moat_api=${ports[6]} p_moat_acl=${ports[7]} p_naive=${ports[8]} p_moat_ded=${ports[9]}
p_naive_resp=${ports[10]} p_gnet=${ports[11]} p_moat_emb=${ports[12]}

# The ACL instance's passwords: requirepass (the default user's, in moat.yaml) and the bench user's (in
# targets.tsv, for redis-benchmark). Fresh for every run; kept out of command lines except redis-benchmark's
# (it has no other way to take one).
genpw() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
(umask 077 && genpw >"$work/acl-requirepass" && genpw >"$work/acl-bench-pass")
acl_default_pw=$(cat "$work/acl-requirepass")
acl_bench_pw=$(cat "$work/acl-bench-pass")
"$mb" gen -dir "$work" -redis "$p_redis" -haproxy "$p_haproxy" -twemproxy "$p_twem" -moat "$p_moat" \
  -moat-flood "$p_moat_flood" -moat-api "$p_moat_api" -moat-acl "$p_moat_acl" -moat-acl-passfile "$work/acl-requirepass" -moat-ded "$p_moat_ded" -moat-emb "$p_moat_emb"

# wait_pong PORT NAME PID [PASSWORD]: PING through PORT (as the default user with PASSWORD) until PONG (at
# most 10 s), and the process must stay up.
wait_pong() {
  for _ in $(seq 100); do
    kill -0 "$3" 2>/dev/null || die "$2 exited at start (see $work/$2.log)"
    [ "$(env ${4:+"REDISCLI_AUTH=$4"} redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  die "$2 does not answer PING on 127.0.0.1:$1 (see $work/$2.log)"
}
# acl_cli ARGS…: redis-cli to the ACL instance as its default user; acl_bench ARGS…: as the bench user.
acl_cli() { REDISCLI_AUTH=$acl_default_pw redis-cli --no-auth-warning -h 127.0.0.1 -p "$p_moat_acl" "$@"; }
acl_bench() { REDISCLI_AUTH=$acl_bench_pw redis-cli --no-auth-warning -h 127.0.0.1 -p "$p_moat_acl" --user bench "$@"; }

maxclients=$((nofile - 64))
nice -n "$NICE" redis-server --port "$p_redis" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --dir "$work" --maxclients "$maxclients" >"$work/redis.log" 2>&1 &
pid_redis=$!
pids+=("$pid_redis")
wait_pong "$p_redis" redis "$pid_redis"

nice -n "$NICE" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pid_haproxy=$!
pids+=("$pid_haproxy")
nice -n "$NICE" nutcracker -c "$work/nutcracker.yml" -s "$p_twem_stats" -a 127.0.0.1 -o "$work/twemproxy.log" &
pid_twem=$!
pids+=("$pid_twem")
nice -n "$NICE" "$mb" relay -listen "127.0.0.1:$p_naive" -backend "127.0.0.1:$p_redis" >"$work/naive.log" 2>&1 &
pid_naive=$!
pids+=("$pid_naive")
nice -n "$NICE" "$mb" relay -resp -allow "$work/allow.lst" -listen "127.0.0.1:$p_naive_resp" -backend "127.0.0.1:$p_redis" \
  >"$work/naive-resp.log" 2>&1 &
pid_naive_resp=$!
pids+=("$pid_naive_resp")
# Issue 20's event-loop prototype (moatbench relay -gnet, gnetrelay.go): gnet, one loop, 2 shared lanes.
nice -n "$NICE" "$mb" relay -gnet -lanes 2 -allow "$work/allow.lst" -listen "127.0.0.1:$p_gnet" -backend "127.0.0.1:$p_redis" \
  >"$work/gnet-proto.log" 2>&1 &
pid_gnet=$!
pids+=("$pid_gnet")
nice -n "$NICE" "$OUT/bin/moat" serve --config "$work/moat.yaml" --log-level warn >"$work/moat.log" 2>&1 &
pid_moat=$!
pids+=("$pid_moat")
wait_pong "$p_haproxy" haproxy "$pid_haproxy"
wait_pong "$p_twem" twemproxy "$pid_twem"
wait_pong "$p_naive" naive "$pid_naive"
wait_pong "$p_naive_resp" naive-resp "$pid_naive_resp"
wait_pong "$p_gnet" gnet-proto "$pid_gnet"
wait_pong "$p_moat" moat "$pid_moat"
wait_pong "$p_moat_flood" moat "$pid_moat"
wait_pong "$p_moat_acl" moat "$pid_moat" "$acl_default_pw"
wait_pong "$p_moat_ded" moat "$pid_moat"
wait_pong "$p_moat_emb" moat "$pid_moat"
say "started: redis-server :$p_redis, haproxy :$p_haproxy, twemproxy :$p_twem, moat :$p_moat (flood instance :$p_moat_flood, ACL instance :$p_moat_acl)"

# --- the ACL user (moat+acl) ----------------------------------------------------------------------------
# 20 key patterns, of which redis-benchmark's keys (key:__rand_int__) match only the last, so every SET and
# GET is checked against all 20; 5 categories that let SET, GET and PING (and AUTH) through. `reset` first:
# the user is stored in moat-data, which a rerun into the same OUT reuses.
acl_patterns=()
for i in $(seq 0 18); do acl_patterns+=("~app$i:*"); done
acl_patterns+=("~key:*")
acl_categories=(+@read +@write +@string +@connection +@fast)
acl_set=$(acl_cli ACL SETUSER bench reset on ">$acl_bench_pw" "${acl_patterns[@]}" "${acl_categories[@]}" 2>&1) || true
[ "$acl_set" = OK ] || die "ACL SETUSER bench through moat: $(printf '%s' "$acl_set" | head -c 300)"
# acl_expect WHAT WANT GOT: GOT must be WANT (WANT starting with '~': GOT must contain the rest).
acl_expect() {
  case $2 in
    '~'*) [[ $3 == *"${2#\~}"* ]] ;;
    *) [ "$3" = "$2" ] ;;
  esac || die "ACL check failed: $1: want '$2', got '$(printf '%s' "$3" | head -c 300)'"
}
acl_expect "PING without AUTH" "~NOAUTH" "$(redis-cli -h 127.0.0.1 -p "$p_moat_acl" PING 2>&1)"
acl_expect "SET as bench" OK "$(acl_bench SET key:acl-check ok 2>&1)"
acl_expect "GET as bench" ok "$(acl_bench GET key:acl-check 2>&1)"
acl_expect "PING as bench" PONG "$(acl_bench PING 2>&1)"
acl_expect "ACL WHOAMI as bench (@slow, not granted)" "~NOPERM" "$(acl_bench ACL WHOAMI 2>&1)"
acl_expect "GET of a key outside the patterns, as bench" "~NOPERM" "$(acl_bench GET other:1 2>&1)"
acl_expect "ACL DRYRUN bench CONFIG GET x" "~no permissions to run the 'config|get' command" "$(acl_cli ACL DRYRUN bench CONFIG GET x 2>&1)"
acl_expect "ACL DRYRUN bench SET key:1 v" OK "$(acl_cli ACL DRYRUN bench SET key:1 v 2>&1)"
acl_expect "ACL DRYRUN bench GET app19:1" "~no permissions to access the 'app19:1' key" "$(acl_cli ACL DRYRUN bench GET app19:1 2>&1)"
acl_cli DEL key:acl-check >/dev/null
acl_cli ACL LOG RESET >/dev/null
say "ACL user bench on :$p_moat_acl: ${#acl_patterns[@]} key patterns, ${#acl_categories[@]} categories (${acl_categories[*]}); GET works, CONFIG GET is refused"

# --- the machine --------------------------------------------------------------------------------------
ver() { "$@" 2>&1 | sed -n 1p; }
{
  echo "date:          $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel:        $(uname -r)"
  echo "nproc:         $(nproc)"
  echo "model name:    $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory:        $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "redis-server:  $(ver redis-server --version)"
  echo "haproxy:       $(ver haproxy -v)"
  echo "nutcracker:    $(ver nutcracker -V)"
  echo "moat:          $moat_desc"
  echo "go:            $(go version)"
  echo "settings:      ROUNDS=$ROUNDS REQUESTS=$REQUESTS CLIENTS=$CLIENTS CHURN_N=$CHURN_N NICE=$NICE FLOOD_WORKERS=$FLOOD_WORKERS FLOOD_NICE=$FLOOD_NICE FLOOD_RATE=$FLOOD_RATE IDLE_CONNS=$IDLE_CONNS open-files=$nofile"
  echo "load before:   $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

ver_redis=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
ver_haproxy=$(haproxy -v | sed -n 1p | awk '{print $3}' | cut -d- -f1)
ver_twem=$(nutcracker -V 2>&1 | sed -n 1p | sed 's/.*-//')
{
  printf '# name\tlabel\taddress\tpid\tskip\tuser\tpassword\n'
  printf 'direct\tredis-server %s (direct)\t127.0.0.1:%s\t0\t\n' "$ver_redis" "$p_redis"
  printf 'haproxy\tHAProxy %s TCP, 1,000-CIDR allow list\t127.0.0.1:%s\t%s\t\n' "$ver_haproxy" "$p_haproxy" "$pid_haproxy"
  printf 'twemproxy\ttwemproxy %s, 1 server conn, no allow list\t127.0.0.1:%s\t%s\t\n' "$ver_twem" "$p_twem" "$pid_twem"
  printf 'naive\tnaive Go relay (1:1, io.Copy, no parsing, no allow list)\t127.0.0.1:%s\t%s\t\n' "$p_naive" "$pid_naive"
  printf 'naive-resp\tnaive Go RESP relay (1:1, redcon reader, per-command check, 1,000-CIDR allow list)\t127.0.0.1:%s\t%s\t\n' "$p_naive_resp" "$pid_naive_resp"
  printf 'gnet-proto\tgnet event-loop prototype (1 loop, 2 shared lanes, per-command check, 1,000-CIDR allow list)\t127.0.0.1:%s\t%s\t\n' "$p_gnet" "$pid_gnet"
  printf 'moat\tmoat %s, 1,000-entry whitelist in 10 groups\t127.0.0.1:%s\t%s\t\n' "$moat_rev" "$p_moat" "$pid_moat"
  printf 'moat-ded\tmoat %s on dedicated lanes alone (shared-lanes 0)\t127.0.0.1:%s\t%s\t\n' "$moat_rev" "$p_moat_ded" "$pid_moat"
  printf 'moat-emb\tmoat %s in front of its in-process engine (no redis-server)\t127.0.0.1:%s\t%s\t\n' "$moat_rev" "$p_moat_emb" "$pid_moat"
  printf 'moat+acl\tmoat %s + ACL user: %d key patterns, %d categories\t127.0.0.1:%s\t%s\t\tbench\t%s\n' \
    "$moat_rev" "${#acl_patterns[@]}" "${#acl_categories[@]}" "$p_moat_acl" "$pid_moat" "$acl_bench_pw"
} >"$OUT/targets.tsv"
chmod 600 "$OUT/targets.tsv" # it holds the bench user's password

# --- idle memory (moat) ---------------------------------------------------------------------------
# On r-bench's shared lanes each idle client costs moat one descriptor (a dedicated lane would add its
# backend connection).
moat_nofile=$(awk '/^Max open files/ {print $4}' "/proc/$pid_moat/limits")
idle_conns=$IDLE_CONNS
idle_note=""
if [ $((idle_conns + 256)) -gt "$moat_nofile" ]; then
  idle_conns=$((moat_nofile - 256))
  idle_note="capped at $idle_conns connections: moat's open-file limit is $moat_nofile"
  say "idle test: $idle_note"
fi
say "idle-memory test: $idle_conns connections to moat"
fg "$mb" idle -addr "127.0.0.1:$p_moat" -pid "$pid_moat" -conns "$idle_conns" -settle "$IDLE_SETTLE" \
  -metrics "http://127.0.0.1:$p_moat_api/metrics" -metrics-token "$work/moat-data/status-token" -out "$OUT/idle.json" -note "$idle_note" ||
  say "idle-memory test failed; continuing without it"
sleep 2 # let moat close the sessions before the throughput rounds
if [ "$ROUNDS" = 0 ]; then
  say "ROUNDS=0: the idle-memory test alone; results in $OUT"
  exit 0
fi

# --- the rounds -------------------------------------------------------------------------------------
flood_args=()
if [ "$FLOOD" = 1 ]; then
  flood_args=(-flood-addr "127.0.0.1:$p_moat_flood" -flood-pid "$pid_moat" -flood-workers "$FLOOD_WORKERS" -flood-nice "$FLOOD_NICE" -flood-rate "$FLOOD_RATE")
  # Open loop: 20 source addresses, so that 5,000 connections a second do not run out of ports.
  [ "$FLOOD_RATE" -gt 0 ] && flood_args+=(-flood-src "$(seq -s, -f '127.0.0.%g' 2 21)")
fi
say "running $ROUNDS round(s)"
run_rc=0
fg nice -n "$NICE" "$mb" run -targets "$OUT/targets.tsv" -raw "$OUT/raw.csv" -log "$OUT/run.log" -rounds "$ROUNDS" \
  -redis-pid "$pid_redis" -n "$REQUESTS" -c "$CLIENTS" -churn-n "$CHURN_N" -timeout "$RUN_TIMEOUT" -deadline "$DEADLINE" \
  "${flood_args[@]}" || run_rc=$?
echo "load after:    $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

# redis-benchmark counts an error reply as a completed request, so prove the ACL user was refused nothing
# but what redis-benchmark asks for at start (CONFIG GET save/appendonly, refused by design: it then warns
# "Could not fetch server CONFIG" and goes on). Each ACL LOG entry's "object" is the command or key refused.
acl_cli ACL LOG 128 >"$work/acl-log.txt" 2>&1 || true
acl_refused=$(awk 'prev == "object" { print } { prev = $0 }' "$work/acl-log.txt" | grep -vx 'config|get' | sort | uniq -c || true)
if [ -n "$acl_refused" ]; then
  say "the ACL user was refused during the rounds (ACL LOG in $work/acl-log.txt): $(echo $acl_refused)"
  run_rc=1
fi

# Report what was measured even if the rounds stopped early (a proxy died, the deadline passed).
if [ "$(wc -l <"$OUT/raw.csv" 2>/dev/null || echo 0)" -gt 1 ]; then
  "$mb" report -dir "$OUT" -title "ops/s ratio to direct redis-server: $ROUNDS round(s), $(nproc) cores shared by client, proxies and server"
fi
[ "$run_rc" -eq 0 ] || die "the rounds stopped early (exit $run_rc); partial results in $OUT"
say "results in $OUT"
