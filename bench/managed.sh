#!/usr/bin/env bash
# The managed server against an external one (issue 21 item 4): one moat serving three instances, each
# with 127.0.0.0/8 whitelisted, and redis-benchmark through each in turn, round-robin:
#   r-mgd     no backend: the managed redis-server moat runs (unix socket, appendonly everysec)
#   r-extunix unix:// to a redis-server started here with the managed one's persistence settings
#   r-exttcp  redis:// (TCP, loopback) to that same redis-server
# -t set,get -n $REQUESTS -c $CLIENTS at -P 1 and -P 16, one test per run. Prints each run and the medians
# per target: requests/s, and the CPU moat and the backend server spent per request (µs, from
# /proc/<pid>/stat), which a busy machine disturbs far less than throughput.
#
#   ./bench/managed.sh                 # ROUNDS=3 REQUESTS=100000 CLIENTS=50
#
# Needs redis-server, redis-benchmark and redis-cli on PATH; everything stays on 127.0.0.0/8 and every
# process it starts is stopped on exit.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/moat-managed-bench.XXXXXX)
say() { printf '%s managed-bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
p_ext=$(free_port) p_api=$(free_port) p_mgd=$(free_port) p_xu=$(free_port) p_xt=$(free_port)

(cd "$root" && go build -o "$work/moat" ./cmd/moat)
mkdir -p "$work/ext"
redis-server --port "$p_ext" --bind 127.0.0.1 --unixsocket "$work/ext/redis.sock" --unixsocketperm 600 \
  --dir "$work/ext" --appendonly yes --appendfsync everysec --save '' --logfile "$work/ext/redis.log" &
pid_ext=$!
pids+=($pid_ext)
cat >"$work/moat.yaml" <<EOF
data_dir: "$work/data"
api_listen: "127.0.0.1:$p_api"
instances:
  - id: r-mgd
    listen: ["127.0.0.1:$p_mgd"]
    whitelist: [{group: local, ips: [127.0.0.0/8]}]
  - id: r-extunix
    listen: ["127.0.0.1:$p_xu"]
    backend: "unix://$work/ext/redis.sock"
    whitelist: [{group: local, ips: [127.0.0.0/8]}]
  - id: r-exttcp
    listen: ["127.0.0.1:$p_xt"]
    backend: "redis://127.0.0.1:$p_ext"
    whitelist: [{group: local, ips: [127.0.0.0/8]}]
EOF
"$work/moat" serve --config "$work/moat.yaml" --log-level warn >"$work/moat.log" 2>&1 &
pid_moat=$!
pids+=($pid_moat)
for p in "$p_mgd" "$p_xu" "$p_xt"; do
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$p" PING 2>/dev/null)" = PONG ] && break
    sleep 0.1
  done
  [ "$(redis-cli -p "$p" PING 2>/dev/null)" = PONG ] || { say "port $p does not answer"; cat "$work/moat.log"; exit 1; }
done
say "moat: r-mgd :$p_mgd (managed), r-extunix :$p_xu, r-exttcp :$p_xt (external redis-server :$p_ext)"

# One short unrecorded P16 run per target first: lanes dialled, AOF files created.
for port in "$p_mgd" "$p_xu" "$p_xt"; do
  redis-benchmark -p "$port" -t set,get -n 20000 -c "$CLIENTS" -P 16 -q >/dev/null 2>&1
done
pid_mgd=$(pgrep -f "$work/data/instances/r-mgd/managed.conf")
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, 1/100 s
results=$work/results.tsv
for r in $(seq "$ROUNDS"); do
  for target in r-mgd:$p_mgd:$pid_mgd r-extunix:$p_xu:$pid_ext r-exttcp:$p_xt:$pid_ext; do
    IFS=: read -r name port pid_be <<<"$target"
    for P in 1 16; do
      for t in set get; do
        m0=$(ticks "$pid_moat") b0=$(ticks "$pid_be")
        rps=$(redis-benchmark -p "$port" -t "$t" -n "$REQUESTS" -c "$CLIENTS" -P "$P" --csv 2>/dev/null | awk -F'","' 'NR == 2 { print $2 }')
        m1=$(ticks "$pid_moat") b1=$(ticks "$pid_be")
        printf '%s\tP%s %s\t%s\t%s\t%s\t%s\n' "$name" "$P" "${t^^}" "$r" "$rps" \
          "$(awk -v d=$((m1 - m0)) -v n="$REQUESTS" 'BEGIN { printf "%.2f", d * 10000 / n }')" \
          "$(awk -v d=$((b1 - b0)) -v n="$REQUESTS" 'BEGIN { printf "%.2f", d * 10000 / n }')" | tee -a "$results"
      done
    done
  done
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
say "medians over $ROUNDS rounds: requests/s, µs of CPU per request in moat / in the backend server"
for test in "P1 SET" "P1 GET" "P16 SET" "P16 GET"; do
  line="$test"
  for name in r-mgd r-extunix r-exttcp; do
    col() { awk -F'\t' -v n="$name" -v t="$test" -v c="$1" '$1 == n && $2 == t { print $c }' "$results" | median; }
    line="$line	$name $(col 4) ($(col 5) / $(col 6))"
  done
  printf '%s\n' "$line"
done
