#!/usr/bin/env bash
# Volt's main job, shown inside a sandbox: a "host" network namespace with an
# uplink to a namespace that plays the internet, two managed networks, and
# containers (network namespaces) on them. Nothing touches this machine's own
# network; everything is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ID="vdemo$$"
H="$ID-host" O="$ID-out" WEB="$ID-web" DB="$ID-db" TOOL="$ID-tool"
ROOT=$(mktemp -d /tmp/volt-demo.XXXXXX)
export VOLT_ROOT=$ROOT

cleanup() {
  for ns in "$WEB" "$DB" "$TOOL" "$O" "$H"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$ROOT"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
volt() { ip netns exec "$H" node "$REPO/core/bin/run.js" "$@"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

say "sandbox: host namespace $H, 'internet' namespace $O (198.18.0.2), VOLT_ROOT=$ROOT"
for ns in "$H" "$O" "$WEB" "$DB" "$TOOL"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$H" link add uplink0 type veth peer name wan0 netns "$O"
ip -n "$H" addr add 198.18.0.1/24 dev uplink0 && ip -n "$H" link set uplink0 up
ip -n "$O" addr add 198.18.0.2/24 dev wan0 && ip -n "$O" link set wan0 up
ip -n "$H" route add default via 198.18.0.2

say "volt initialises the default network and creates two more"
printf '$ volt init\n'; volt init
printf '$ volt net create --name backend --subnet 10.30.0.0/24\n'; volt net create --name backend --subnet 10.30.0.0/24
printf '$ volt net create --name internal --subnet 10.50.0.0/24 --no-nat\n'; volt net create --name internal --subnet 10.50.0.0/24 --no-nat

say "containers join the bridges (veth pairs; \`volt net connect\` automates this)"
attach() { # ns bridge cidr gateway hostif
  ip -n "$H" link add "$5" type veth peer name eth0 netns "$1"
  ip -n "$H" link set "$5" master "$2" up
  ip -n "$1" addr add "$3" dev eth0 && ip -n "$1" link set eth0 up
  ip -n "$1" route add default via "$4"
  echo "  $1: eth0 $3 on $2"
}
attach "$WEB" volt-backend 10.30.0.10/24 10.30.0.1 vd-web
attach "$TOOL" volt-backend 10.30.0.11/24 10.30.0.1 vd-tool
attach "$DB" volt-internal 10.50.0.10/24 10.50.0.1 vd-db

check() { # expectation description command...
  local want=$1 what=$2; shift 2
  if "$@" >/dev/null 2>&1; then got=yes; else got=no; fi
  if [ "$got" = "$want" ]; then printf '  \033[32m✓\033[0m %s\n' "$what"; else printf '  \033[31m✗\033[0m %s (unexpected)\n' "$what"; exit 1; fi
}
say "the default policy, with real traffic"
check yes "web → its gateway 10.30.0.1"                    in_ns "$WEB" ping -c1 -W1 10.30.0.1
check yes "web → tool, same network (L2 peers)"            in_ns "$WEB" ping -c1 -W1 10.30.0.11
check yes "web → the internet (198.18.0.2) through NAT"    in_ns "$WEB" ping -c1 -W1 198.18.0.2
check no  "web → db on another network (denied)"           in_ns "$WEB" ping -c1 -W1 10.50.0.10
check no  "db on an internal (--no-nat) network → internet" in_ns "$DB" ping -c1 -W1 198.18.0.2
check no  "the internet → host, new connection (denied)"   in_ns "$O" ping -c1 -W1 198.18.0.1

say "status"
printf '$ volt net bridge list\n'; volt net bridge list
printf '\n$ volt net status\n'; volt net status
printf '\n$ volt driver list\n'; volt driver list

say "drift: someone deletes a bridge and flushes volt's table; check notices, up repairs"
ip -n "$H" link del volt-internal
in_ns "$H" nft delete table inet volt
printf '$ volt net check\n'; volt net check || true
printf '$ volt net up\n'; volt net up
printf '$ volt net up   # again: nothing to do\n'; volt net up
check yes "web → internet again after repair"   in_ns "$WEB" ping -c1 -W1 198.18.0.2

say "bad input changes nothing"
printf '$ volt net create --name bad --subnet 10.30.0.128/25\n'; volt net create --name bad --subnet 10.30.0.128/25 || true
printf '$ volt net delete backend   # containers still attached\n'; volt net delete backend || true

say "done: the sandbox is removed"
