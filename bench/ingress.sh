#!/usr/bin/env bash
# HTTP proxying throughput: wrk on loopback, in a private network namespace,
# against (a) the backend directly, (b) nginx as a reverse proxy, (c) volt
# ingress, and (d) redbird 1.x when it can be loaded (it is not a dependency:
# `npm install --prefix /tmp/rb redbird@1` and run with NODE_PATH=/tmp/rb/node_modules)
# — the same backend behind every proxy. Every round runs each target once, in
# turn (so a noisy moment hits all of them alike); the table gives the median
# over the rounds of requests/s, p99 latency and CPU per request, and each
# proxy's ratio to nginx (median of the per-round ratios).
#
#   bash bench/ingress.sh [--backend node|nginx|both] [--duration S] [--connections N] [--workers N]
#                         [--rounds N] [--node-path]
#
# --backend node   a one-process Node http server (what a workload typically runs; default)
# --backend nginx  nginx answering `return 200` (about the cheapest backend there is:
#                  the figures are then the proxies' own cost)
# --workers        proxy worker processes for nginx and volt alike (default: CPUs)
# --rounds         rounds per backend (default 3)
# --node-path      also run a second volt with VOLT_INGRESS_FAST_PATH=0 (Node's http
#                  server + undici, the path before docs/decisions/0004): the A/B of the fast path
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BACKENDS=node DURATION=10 CONNECTIONS=50 WORKERS=$(nproc) ROUNDS=3 NODE_PATH_ROW=no
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKENDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --node-path) NODE_PATH_ROW=yes; shift ;;
    *) echo "usage: bench/ingress.sh [--backend node|nginx|both] [--duration S] [--connections N] [--workers N] [--rounds N] [--node-path]"; exit 2 ;;
  esac
done
[ "$BACKENDS" = both ] && BACKENDS="node nginx"
command -v wrk >/dev/null || { echo "bench: wrk missing (bash scripts/setup.sh installs it)"; exit 1; }
command -v nginx >/dev/null || { echo "bench: nginx missing (bash scripts/setup.sh installs nginx-light)"; exit 1; }

W=$BENCH_ROOT/ingress-bench
mkdir -p "$W"
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$W"/nginx-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.5
  # Whatever is left in the namespace (nginx workers, volt's worker processes) goes with it.
  for p in $(ip netns pids "$BENCH_NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  PIDS=()
}
trap 'stop_all; bench_cleanup' EXIT

BODY='hello from backend'
HOST=bench.example.com
BACKEND_PORT=9001 NGINX_PORT=9002 VOLT_PORT=9003 REDBIRD_PORT=9004 VOLT_NODE_PORT=9005

cat > "$W/backend.js" <<JS
const http = require('http');
const body = Buffer.from('$BODY\n');
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
}).listen($BACKEND_PORT, '127.0.0.1', () => console.log('LISTENING'));
JS

nginx_conf() { # name body → config file
  cat > "$W/nginx-$1.conf" <<NGINX
worker_processes $2;
pid $W/nginx-$1.pid;
error_log $W/nginx-$1.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  $3
}
NGINX
}
nginx_conf backend 1 "server { listen 127.0.0.1:$BACKEND_PORT; location / { default_type text/plain; return 200 '$BODY\n'; } }"
# nginx as an ingress does it: keep-alive upstream, Host kept, X-Forwarded-* set.
nginx_conf proxy "$WORKERS" "upstream be { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
  server { listen 127.0.0.1:$NGINX_PORT; location / {
    proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection '';
    proxy_set_header Host \$host; proxy_set_header X-Forwarded-For \$remote_addr;
    proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host; } }"

wait_port() { for _ in $(seq 1 150); do in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing listens on $1"; exit 1; }

TICK=$(getconf CLK_TCK)
# CPU time (clock ticks) used so far by the given processes and all their descendants.
cpu_ticks() {
  local total=0 p kids
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    kids=$(pgrep -P "$p" 2>/dev/null || true)
    [ -n "$kids" ] && total=$((total + $(cpu_ticks $kids)))
  done
  echo "$total"
}

# run NAME PORT PIDS... → "rps p99-ms cpu-µs-per-request" (a 2 s warm-up first; wrk with one thread,
# leaving the CPUs to the servers). CPU is that of PIDS (the server under test, not the backend).
run() {
  local name=$1 port=$2; shift 2
  in_ns wrk -t1 -c"$CONNECTIONS" -d2s -H "Host: $HOST" "http://127.0.0.1:$port/" >/dev/null
  local out before after
  before=$(cpu_ticks "$@")
  out=$(in_ns wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Host: $HOST" "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$@")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "bench: $name had failed requests:" >&2; echo "$out" >&2; fi
  local rps p99 reqs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  # wrk prints 812.00us / 15.44ms / 1.20s: in ms
  p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v); if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $p99 $(awk -v t=$((after - before)) -v hz="$TICK" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

REDBIRD=no
if (cd "$REPO" && node -e "require.resolve('redbird')" 2>/dev/null); then REDBIRD=yes; fi

# start_volt ROOT PORT HTTPS-PORT [ENV=VALUE...] → pid of `volt ingress serve` (its workers are its children)
start_volt() {
  local root=$1 port=$2 sport=$3; shift 3
  mkdir -p "$root"
  rm -f "$root/var/lib/volt/state.json"
  VOLT_ROOT=$root $VOLT ingress create --name bench --hostname $HOST --backend 127.0.0.1:$BACKEND_PORT >/dev/null 2>"$root/create.err" \
    || { echo "bench: volt ingress create failed:"; cat "$root/create.err"; exit 1; }
  env VOLT_ROOT="$root" "$@" ip netns exec "$BENCH_NS" $VOLT ingress serve --http-port "$port" --https-port "$sport" --workers "$WORKERS" --health-interval 60 > "$root/volt.out" 2> "$root/volt.err" &
  PIDS+=($!)
  STARTED=$!
  wait_port "$port"
}

echo "ingress bench: wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback, $ROUNDS round(s), $WORKERS proxy worker(s), $(nproc) CPU(s), node $(node -v), nginx $(nginx -v 2>&1 | sed 's/.*\///')"
for backend in $BACKENDS; do
  # Started with `ip netns exec` directly (it execs), so $! is the server itself.
  if [ "$backend" = node ]; then ip netns exec "$BENCH_NS" node "$W/backend.js" > /dev/null & PIDS+=($!); BACKEND_PIDS=$!
  else in_ns nginx -c "$W/nginx-backend.conf"; BACKEND_PIDS=$(cat "$W/nginx-backend.pid"); fi
  wait_port $BACKEND_PORT
  in_ns nginx -c "$W/nginx-proxy.conf"
  NGINX_PIDS=$(cat "$W/nginx-proxy.pid")
  start_volt "$VOLT_ROOT" $VOLT_PORT 9443
  VOLT_PIDS=$STARTED
  TARGETS="direct nginx volt"
  if [ $NODE_PATH_ROW = yes ]; then
    start_volt "$BENCH_ROOT/node-path" $VOLT_NODE_PORT 9444 VOLT_INGRESS_FAST_PATH=0
    VOLT_NODE_PIDS=$STARTED
    TARGETS="$TARGETS voltnode"
  fi
  if [ $REDBIRD = yes ]; then
    (cd "$REPO" && exec ip netns exec "$BENCH_NS" node -e "const { Redbird } = require('redbird'); new Redbird({ port: $REDBIRD_PORT }).register('$HOST', 'http://127.0.0.1:$BACKEND_PORT');") > /dev/null 2>&1 & PIDS+=($!)
    REDBIRD_PIDS=$!
    wait_port $REDBIRD_PORT
    TARGETS="$TARGETS redbird"
  fi

  R=$W/results-$backend
  : > "$R"
  for round in $(seq 1 "$ROUNDS"); do
    for target in $TARGETS; do
      case $target in
        direct) line=$(run direct $BACKEND_PORT $BACKEND_PIDS) ;;
        nginx) line=$(run nginx $NGINX_PORT $NGINX_PIDS) ;;
        volt) line=$(run volt $VOLT_PORT $VOLT_PIDS) ;;
        voltnode) line=$(run volt-node-path $VOLT_NODE_PORT $VOLT_NODE_PIDS) ;;
        redbird) line=$(run redbird $REDBIRD_PORT $REDBIRD_PIDS) ;;
      esac
      echo "$round $target $line" >> "$R"
    done
  done

  col() { awk -v t="$1" -v c="$2" '$2 == t { print $c }' "$R" | median; }
  # Per-round ratio a/b, then the median of those.
  rratio() { awk -v a="$1" -v b="$2" '$2 == a { x[$1] = $3 } $2 == b { y[$1] = $3 } END { for (r in x) if (y[r] > 0) printf "%.4f\n", x[r] / y[r] }' "$R" | median | awk '{ printf "%.2f", $1 }'; }
  rounds() { awk -v t="$1" '$2 == t { printf "%s%.0f", (n++ ? " / " : ""), $3 }' "$R"; }
  row() { printf '  %-22s %10s %10s %9s %16s   %s\n' "$@"; }
  echo
  echo "backend: $backend (median of $ROUNDS round(s); req/s of every round at the end of the line)"
  row target 'req/s' 'p99 ms' 'vs nginx' 'CPU µs/request' 'rounds'
  row "backend directly" "$(col direct 3)" "$(col direct 4)" "-" "$(col direct 5)" "$(rounds direct)"
  row "nginx proxy" "$(col nginx 3)" "$(col nginx 4)" "1.00" "$(col nginx 5)" "$(rounds nginx)"
  row "volt ingress" "$(col volt 3)" "$(col volt 4)" "$(rratio volt nginx)" "$(col volt 5)" "$(rounds volt)"
  if [ $NODE_PATH_ROW = yes ]; then
    row "volt, Node http+undici" "$(col voltnode 3)" "$(col voltnode 4)" "$(rratio voltnode nginx)" "$(col voltnode 5)" "$(rounds voltnode)"
    echo "  fast path / Node path: $(rratio volt voltnode)"
  fi
  if [ $REDBIRD = yes ]; then
    row "redbird" "$(col redbird 3)" "$(col redbird 4)" "$(rratio redbird nginx)" "$(col redbird 5)" "$(rounds redbird)"
    echo "  volt / redbird: $(rratio volt redbird)"
  else
    echo "  redbird: not installed here; docs/decisions/0001 records 0.05-0.09x nginx (2-4k req/s) on these machines"
  fi
  echo "  (CPU µs/request: the server under test alone — the backend's share is in its own row; load average $(cut -d' ' -f1 /proc/loadavg))"
  stop_all
done
