#!/usr/bin/env bash
# Installs what moat's tests need on a Debian/Ubuntu machine: a real redis-server and redis-cli, etcd and
# HAProxy for the fleet tests, nftables and iproute2 for the firewall test, chromium for the console's browser test.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
# The security-group ruleset test (internal/controlplane/firewall) loads nftables into network namespaces it creates.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
# The fleet tests start a 3-member cluster of Debian's etcd (3.4) and put HAProxy in front of the gateways.
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
# The web console's browser test (internal/console) drives Debian's headless chromium.
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The client tests (cmd/moat/clients_test.go) run redis-py (Debian's, for /usr/bin/python3) and ioredis (npm,
# pinned in cmd/moat/testdata/clients/package-lock.json) through moat.
/usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || need+=(python3-redis)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
clients_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/cmd/moat/testdata/clients"
install_clients() {
  [ -d "$clients_dir/node_modules/ioredis" ] || (cd "$clients_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}
if [ ${#need[@]} -eq 0 ]; then
  install_clients
  exit 0
fi
echo "installing ${need[*]} (tests run against a real redis-server, etcd, HAProxy and a real browser)" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
# The Debian package starts a system redis-server on 6379; the tests start their own.
# The Debian etcd package may start a system etcd on 2379; the fleet tests start their own members.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now etcd >/dev/null 2>&1 || true; fi
install_clients
