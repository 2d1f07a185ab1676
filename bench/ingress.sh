#!/usr/bin/env bash
# HTTP proxying throughput: wrk on loopback, in a private network namespace,
# against (a) the backend directly, (b) nginx as a reverse proxy, (c) volt
# ingress, and (d) redbird 1.x when it can be loaded (it is not a dependency:
# `npm install --prefix /tmp/rb redbird@1` and run with NODE_PATH=/tmp/rb/node_modules)
# — the same backend behind every proxy, one run each.
# Prints requests/s, p99 latency and each proxy's ratio to nginx.
#
#   bash bench/ingress.sh [--backend node|nginx|both] [--duration S] [--connections N] [--workers N]
#
# --backend node   a one-process Node http server (what a workload typically runs; default)
# --backend nginx  nginx answering `return 200` (about the cheapest backend there is:
#                  the figures are then the proxies' own cost)
# --workers        proxy worker processes for nginx and volt alike (default: CPUs)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BACKENDS=node DURATION=10 CONNECTIONS=50 WORKERS=$(nproc)
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKENDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    *) echo "usage: bench/ingress.sh [--backend node|nginx|both] [--duration S] [--connections N] [--workers N]"; exit 2 ;;
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
BACKEND_PORT=9001 NGINX_PORT=9002 VOLT_PORT=9003 REDBIRD_PORT=9004

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

wait_port() { for _ in $(seq 1 100); do in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing listens on $1"; exit 1; }

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

# run NAME PORT PIDS... → "rps p99 cpu-µs-per-request" (a 2 s warm-up first; wrk with one thread,
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
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  echo "$rps $p99 $(awk -v t=$((after - before)) -v hz="$TICK" -v n="$reqs" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')"
}

REDBIRD=no
if (cd "$REPO" && node -e "require.resolve('redbird')" 2>/dev/null); then REDBIRD=yes; fi

echo "ingress bench: wrk -t1 -c$CONNECTIONS -d${DURATION}s on loopback, $WORKERS proxy worker(s), $(nproc) CPU(s), node $(node -v), $(nginx -v 2>&1 | sed 's/.*\///')"
for backend in $BACKENDS; do
  # Started with `ip netns exec` directly (it execs), so $! is the server itself.
  if [ "$backend" = node ]; then ip netns exec "$BENCH_NS" node "$W/backend.js" > /dev/null & PIDS+=($!); BACKEND_PIDS=$!
  else in_ns nginx -c "$W/nginx-backend.conf"; BACKEND_PIDS=$(cat "$W/nginx-backend.pid"); fi
  wait_port $BACKEND_PORT
  in_ns nginx -c "$W/nginx-proxy.conf"
  NGINX_PIDS=$(cat "$W/nginx-proxy.pid")
  rm -rf "$VOLT_ROOT/var/lib/volt/state.json"
  $VOLT ingress create --name bench --hostname $HOST --backend 127.0.0.1:$BACKEND_PORT >/dev/null 2>&1
  ip netns exec "$BENCH_NS" $VOLT ingress serve --http-port $VOLT_PORT --https-port 9443 --workers "$WORKERS" --health-interval 60 > "$W/volt.out" 2> "$W/volt.err" & PIDS+=($!)
  VOLT_PIDS=$!
  wait_port $VOLT_PORT
  if [ $REDBIRD = yes ]; then
    (cd "$REPO" && exec ip netns exec "$BENCH_NS" node -e "const { Redbird } = require('redbird'); new Redbird({ port: $REDBIRD_PORT }).register('$HOST', 'http://127.0.0.1:$BACKEND_PORT');") > /dev/null 2>&1 & PIDS+=($!)
    REDBIRD_PIDS=$!
    wait_port $REDBIRD_PORT
  fi

  read -r d_rps d_p99 d_cpu < <(run direct $BACKEND_PORT $BACKEND_PIDS)
  read -r n_rps n_p99 n_cpu < <(run nginx $NGINX_PORT $NGINX_PIDS)
  read -r v_rps v_p99 v_cpu < <(run volt $VOLT_PORT $VOLT_PIDS)
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  row() { printf '  %-20s %10s %10s %10s %16s\n' "$@"; }
  echo
  echo "backend: $backend"
  row target 'req/s' p99 'vs nginx' 'CPU µs/request'
  row "backend directly" "$d_rps" "$d_p99" "-" "$d_cpu"
  row "nginx proxy" "$n_rps" "$n_p99" "1.00" "$n_cpu"
  row "volt ingress" "$v_rps" "$v_p99" "$(ratio "$v_rps" "$n_rps")" "$v_cpu"
  if [ $REDBIRD = yes ]; then
    read -r r_rps r_p99 r_cpu < <(run redbird $REDBIRD_PORT $REDBIRD_PIDS)
    row "redbird" "$r_rps" "$r_p99" "$(ratio "$r_rps" "$n_rps")" "$r_cpu"
    echo "  volt / redbird: $(ratio "$v_rps" "$r_rps")"
  else
    echo "  redbird: not installed here; docs/decisions/0001 records 0.05-0.09x nginx (2-4k req/s) on these machines"
  fi
  echo "  (CPU µs/request: the server under test alone — the backend's share is in its own row; load average $(cut -d' ' -f1 /proc/loadavg))"
  stop_all
done
