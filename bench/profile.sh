#!/usr/bin/env bash
# Where a request's microseconds go (issue 20): moat + ACL user at -P 1 and -P 16, and a new connection's.
#
#   bench/profile.sh bench/out/<run>        # a directory a harness run wrote (its moat binary and config)
#
# Starts a redis-server and the run's moat (with --pprof) on free loopback ports, with a copy of the run's
# moat-data (the ACL user "bench" is in it), then against the ACL instance runs -P 1 (200,000 GETs),
# -P 16 (1,000,000 GETs) and churn (50,000 new connections, each AUTH + PING, then close). For each: moat's
# CPU per request or connection (/proc/<pid>/stat), its read and write syscalls per command
# (/proc/<pid>/io syscr, syscw), and, where perf can trace syscalls, each kind of syscall per command or
# connection (syscr does not count the recvmsg a plain client socket is read with); and a CPU profile.
# Writes profile.txt, cpu-P1.pprof, cpu-P16.pprof and cpu-churn.pprof into <run>/profile/; read a profile
# with `go tool pprof -top -cum <run>/bin/moat <run>/profile/cpu-P1.pprof`. Every process it starts is
# stopped on exit.
set -euo pipefail
run=$(cd "${1:?usage: bench/profile.sh bench/out/<run>}" && pwd)
work=$run/work
out=$run/profile
mkdir -p "$out"
rm -rf "$out/data"
cp -r "$work/moat-data" "$out/data"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Every 127.0.0.1 port of the run's config moves to a free one.
mapfile -t old < <(grep -o '127\.0\.0\.1:[0-9]*' "$work/moat.yaml" | sort -u)
mapfile -t new < <("$run/bin/moatbench" freeports -n "${#old[@]}")
sed_args=(-e "s#$work/moat-data#$out/data#")
for i in "${!old[@]}"; do sed_args+=(-e "s#${old[$i]}\"#127.0.0.1:${new[$i]}\"#g"); done
sed "${sed_args[@]}" "$work/moat.yaml" >"$out/moat.yaml"
port_of() { sed -n "/id: $1\$/,/listen/p" "$out/moat.yaml" | grep -o '127\.0\.0\.1:[0-9]*' | head -1 | cut -d: -f2; }
p_redis=$(grep -o 'redis://127\.0\.0\.1:[0-9]*' "$out/moat.yaml" | head -1 | cut -d: -f3)
p_api=$(grep -o 'api_listen: "127\.0\.0\.1:[0-9]*' "$out/moat.yaml" | cut -d: -f3)
p_acl=$(port_of r-benchacl)

redis-server --port "$p_redis" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$out/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$p_redis" PING >/dev/null 2>&1 && break; sleep 0.1; done
"$run/bin/moat" serve --config "$out/moat.yaml" --log-level warn --pprof >"$out/moat.log" 2>&1 &
moat=$!
pids+=("$moat")
pw=$(cat "$work/acl-bench-pass")
for _ in $(seq 100); do
  kill -0 "$moat" || { cat "$out/moat.log"; exit 1; }
  [ "$(redis-cli -p "$p_acl" --user bench --pass "$pw" --no-auth-warning PING 2>/dev/null)" = PONG ] && break
  sleep 0.1
done

# perf's syscall tracepoints, when perf and tracefs are there (root): syscalls of each kind per command.
perf=""
syscalls=syscalls:sys_enter_recvmsg,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex
churn_syscalls=syscalls:sys_enter_accept4,syscalls:sys_enter_close,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_fcntl,syscalls:sys_enter_setsockopt,syscalls:sys_enter_getsockopt,syscalls:sys_enter_getsockname,syscalls:sys_enter_getpeername
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_recvmsg -- true >/dev/null 2>&1; then perf=1; fi
cpu() { awk '{print $14+$15}' "/proc/$moat/stat"; }
io() { awk '/syscr|syscw/ {printf "%s ", $2}' "/proc/$moat/io"; }
bench() { redis-benchmark -h 127.0.0.1 -p "$1" "${@:2}" -q 2>/dev/null | tr '\r' '\n' | grep 'requests per second' | tail -1; }
{
  echo "moat $run/bin/moat, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for P in 1 16; do
    n=$((P == 1 ? 200000 : 1000000))
    secs=$((P == 1 ? 6 : 3))
    bench "$p_acl" --user bench -a "$pw" -t get -n 20000 -c 50 -P "$P" >/dev/null # warm-up
    read -r r0 w0 <<<"$(io)"
    c0=$(cpu) t0=$(date +%s.%N)
    (sleep 1 && curl -s -o "$out/cpu-P$P.pprof" "http://127.0.0.1:$p_api/debug/pprof/profile?seconds=$secs") &
    prof=$!
    sys=""
    if [ -n "$perf" ]; then # every syscall moat makes, by kind (/proc's syscr misses recvmsg)
      perf stat -x, -o "$out/syscalls-P$P.csv" -p "$moat" -e "$syscalls" &
      perfpid=$!
    fi
    res=$(bench "$p_acl" --user bench -a "$pw" -t get -n "$n" -c 50 -P "$P")
    read -r r1 w1 <<<"$(io)"
    c1=$(cpu) t1=$(date +%s.%N)
    if [ -n "$perf" ]; then
      kill -INT "$perfpid"; wait "$perfpid" || true
      sys=" | per cmd:$(awk -F, -v n="$n" '$3 ~ /sys_enter_/ {sub(/.*sys_enter_/, "", $3); printf " %s %.3f", $3, $1/n}' "$out/syscalls-P$P.csv")"
    fi
    wait "$prof"
    echo "moat+acl P$P: $res | reads/cmd $(echo "scale=3; ($r1-$r0)/$n" | bc) writes/cmd $(echo "scale=3; ($w1-$w0)/$n" | bc)" \
      "| moat cores $(echo "scale=2; ($c1-$c0)/100/($t1-$t0)" | bc) µs/op $(echo "scale=2; ($c1-$c0)*10000/$n" | bc)$sys"
  done
  for P in 1 16; do
    echo "direct P$P: $(bench "$p_redis" -t get -n $((P == 1 ? 200000 : 1000000)) -c 50 -P "$P")"
  done
  # New connections (churn): each connects, AUTHs as the ACL user, PINGs and closes.
  n=50000
  bench "$p_acl" --user bench -a "$pw" -t ping_mbulk -n 5000 -c 50 -k 0 >/dev/null # warm-up
  c0=$(cpu)
  (sleep 1 && curl -s -o "$out/cpu-churn.pprof" "http://127.0.0.1:$p_api/debug/pprof/profile?seconds=3") &
  prof=$!
  sys=""
  if [ -n "$perf" ]; then
    perf stat -x, -o "$out/syscalls-churn.csv" -p "$moat" -e "$syscalls,$churn_syscalls" &
    perfpid=$!
  fi
  res=$(bench "$p_acl" --user bench -a "$pw" -t ping_mbulk -n "$n" -c 50 -k 0)
  c1=$(cpu)
  if [ -n "$perf" ]; then
    kill -INT "$perfpid"; wait "$perfpid" || true
    sys=" | per connection:$(awk -F, -v n="$n" '$3 ~ /sys_enter_/ {sub(/.*sys_enter_/, "", $3); printf " %s %.2f", $3, $1/n}' "$out/syscalls-churn.csv")"
  fi
  wait "$prof"
  echo "moat+acl churn: $res | µs/connection $(echo "scale=1; ($c1-$c0)*10000/$n" | bc)$sys"
  echo "direct churn: $(bench "$p_redis" -t ping_mbulk -n "$n" -c 50 -k 0)"
} | tee "$out/profile.txt"
