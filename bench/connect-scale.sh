#!/usr/bin/env bash
# Connect at scale (issue 15), two measurements in one run, everything inside sandbox namespaces:
#
# 1. Batch vs the `ip -batch` floor. `volt net connect NET c1 … cN` (N=100) against the same
#    kernel work done with iproute2 alone and nothing else: one `ip -batch` creating every veth
#    pair (peer straight into its namespace, host end addrgenmode none, alias, on the bridge, up)
#    and one `nsenter --net=/run/netns/cK ip -batch` per container (lo up, address, alias, up,
#    default route; nsenter measured cheaper than `ip -n`, which also remounts /sys), BATCH_PAR
#    of those at a time — the same lines volt sends, the same parallelism volt uses (4), and no
#    process volt could save: ip cannot change namespace inside a batch, so one process per
#    container is the floor of the process path. Volt does the same kernel work over rtnetlink
#    in its own process (no program at all; VOLT_KERNEL_ACCESS=process: one `ip -batch` for the
#    host ends and one nsenter per namespace from four shells), and also announces every peer
#    once its bridge port forwards (the last attachment listener). Volt pays on top: node start-up, the state
#    lock and files, the journal (three
#    fsync'd writes), IPAM and MAC checks, the resolv.conf of every container. Wall clock
#    of the whole command over N = per-connect cost; each run in a fresh sandbox host namespace
#    with fresh containers and a fresh VOLT_ROOT, median of RUNS. Goal: volt ≤ 1.5 × the floor.
#
# 2. The 1000th connect vs the 10th. One `volt net connect NET cK` (a single connect, the
#    command a user or an orchestrator runs per container) timed when the network already holds
#    9 attachments and when it holds FILL-1 (999); the network is filled with batches (not timed).
#    Each sample is connect then disconnect (untimed), so every sample sees the same fill; median
#    of SAMPLES. This is the whole command (node start-up included), so what grows with the
#    network — state read and written, IPAM over the taken addresses, the fdb lookup of the MAC,
#    the bridge's port count — shows against a constant. Goal: ≤ 1.2.
#
# Variables: N (100), RUNS (3), BATCH_PAR (4), FILL (1000), SAMPLES (5), PARTS ("batch fill").
# A short configuration: N=30 RUNS=1 FILL=200 SAMPLES=3.
# (The per-tool run of 1,000 sequential connects against CNI and netavark that this script held
# before is in git history, 76b6dd5; bench/connect.sh compares single connects.)
source "$(dirname "$0")/lib.sh"
N=${N:-100}
RUNS=${RUNS:-3}
BATCH_PAR=${BATCH_PAR:-4}
FILL=${FILL:-1000}
SAMPLES=${SAMPLES:-5}
PARTS=${PARTS:-"batch fill"}
[ "$N" -le 150 ] || { echo "bench: N ≤ 150 (one /24's container range)"; exit 1; }
work=$(mktemp -d -p "$BENCH_ROOT")
declare -a CREATED_NS=()
cleanup_all() {
  [ ${#CREATED_NS[@]} -eq 0 ] || printf 'netns del %s\n' "${CREATED_NS[@]}" | ip -force -batch - 2>/dev/null || true
  bench_cleanup
}
trap cleanup_all EXIT
now_ns() { date +%s%N; }
# add_ns NAME…: named namespaces, lo up, removed on exit.
add_ns() {
  printf 'netns add %s\n' "$@" | ip -batch -
  CREATED_NS+=("$@")
}
del_ns() { printf 'netns del %s\n' "$@" | ip -force -batch - 2>/dev/null || true; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

if [[ " $PARTS " == *" batch "* ]]; then
  : > "$work/volt.ms"; : > "$work/floor.ms"; : > "$work/node.ms"
  for r in $(seq 1 "$RUNS"); do
    H="$BENCH_ID-r$r"
    add_ns "$H"
    ip -n "$H" link set lo up
    root="$work/root$r"; mkdir -p "$root"
    V="ip netns exec $H env VOLT_ROOT=$root node $REPO/core/bin/run.js"
    $V net create --name scale --subnet 10.72.0.0/24 >/dev/null
    # The floor's network: a bridge with the gateway address, up (made before timing, as volt's is).
    ip -n "$H" link add floorbr type bridge
    ip -n "$H" addr add 10.73.0.1/24 dev floorbr
    ip -n "$H" link set floorbr up
    vc=(); fc=()
    for i in $(seq 1 "$N"); do vc+=("$BENCH_ID-r$r-v$i"); fc+=("$BENCH_ID-r$r-f$i"); done
    add_ns "${vc[@]}" "${fc[@]}"
    # The floor's input, written before timing: the lines setupVethPorts and peerLines produce.
    : > "$work/host$r.batch"
    for i in $(seq 1 "$N"); do
      c=${fc[$((i - 1))]}; h=$(printf 'vf%010x' "$i"); mac=$(printf '02:42:00:00:%02x:%02x' $((i / 256)) $((i % 256)))
      printf 'link add name %s mtu 1500 type veth peer name eth0 address %s mtu 1500 netns /run/netns/%s\nlink set dev %s addrgenmode none\nlink set dev %s alias volt:floor/%s\nlink set dev %s master floorbr up\n' \
        "$h" "$mac" "$c" "$h" "$h" "$c" "$h" >> "$work/host$r.batch"
      # …and the announcement (the MAC set to itself), without volt's arp_notify sysctl or its wait for the port: a floor in the floor's favour.
      printf 'link set dev lo up\naddr replace 10.73.0.%d/24 dev eth0\nlink set dev eth0 alias volt:floor/%s\nlink set dev eth0 up\nroute replace default via 10.73.0.1 dev eth0\nlink set dev eth0 address %s\n' \
        $((i + 99)) "$c" "$mac" > "$work/peer$r-$i.batch"
    done
    # Node's own start-up, for reading the figures (not part of any ratio).
    s=$(now_ns); ip netns exec "$H" node -e 0; e=$(now_ns); echo $(( (e - s) / 1000 )) >> "$work/node.ms"
    # Alternate which goes first from run to run (the machine's load drifts).
    run_volt() {
      local s e
      s=$(now_ns); $V net connect scale "${vc[@]}" >/dev/null; e=$(now_ns)
      echo $(( (e - s) / 1000 )) >> "$work/volt.ms"
    }
    run_floor() {
      local s e
      s=$(now_ns)
      ip -n "$H" -batch "$work/host$r.batch"
      seq 1 "$N" | xargs -P "$BATCH_PAR" -I{} nsenter "--net=/run/netns/$BENCH_ID-r$r-f{}" ip -batch "$work/peer$r-{}.batch"
      e=$(now_ns)
      echo $(( (e - s) / 1000 )) >> "$work/floor.ms"
    }
    if [ $((r % 2)) -eq 1 ]; then run_volt; run_floor; else run_floor; run_volt; fi
    # Sanity: both did the work (the last container of each answers on its address).
    ip netns exec "${vc[$((N - 1))]}" ip -4 -o addr show dev eth0 | grep -q "10.72.0.$((N + 99))/" || { echo "bench: volt's batch did not configure ${vc[$((N - 1))]}"; exit 1; }
    ip netns exec "${fc[$((N - 1))]}" ip -4 -o addr show dev eth0 | grep -q "10.73.0.$((N + 99))/" || { echo "bench: the floor did not configure ${fc[$((N - 1))]}"; exit 1; }
    del_ns "${vc[@]}" "${fc[@]}" "$H"
    rm -rf "$root"
  done
  vm=$(median < "$work/volt.ms"); fm=$(median < "$work/floor.ms"); nm=$(median < "$work/node.ms")
  node -e "
    const [v, f, n, N, runs] = process.argv.slice(1).map(Number);
    console.log('batch of N=' + N + ' (median of ' + runs + ' runs, wall clock, µs → ms)');
    console.log('  volt net connect NET c1 … cN   ' + (v / 1000).toFixed(1).padStart(9) + ' ms   ' + (v / N / 1000).toFixed(2).padStart(7) + ' ms per connect');
    console.log('  ip -batch floor (same work)    ' + (f / 1000).toFixed(1).padStart(9) + ' ms   ' + (f / N / 1000).toFixed(2).padStart(7) + ' ms per connect');
    console.log('  node -e 0 (context)            ' + (n / 1000).toFixed(1).padStart(9) + ' ms');
    console.log('  volt / floor per connect       ' + (v / f).toFixed(2).padStart(9) + '      (goal ≤ 1.50)');
  " "$vm" "$fm" "$nm" "$N" "$RUNS"
  echo "  runs (µs): volt $(paste -sd' ' "$work/volt.ms"); floor $(paste -sd' ' "$work/floor.ms")"
fi

if [[ " $PARTS " == *" fill "* ]]; then
  H="$BENCH_ID-fill"
  add_ns "$H"
  ip -n "$H" link set lo up
  root="$work/rootfill"; mkdir -p "$root"
  V="ip netns exec $H env VOLT_ROOT=$root node $REPO/core/bin/run.js"
  # A /21: room for FILL containers.
  $V net create --name scale --subnet 10.74.0.0/21 >/dev/null
  cs=(); for i in $(seq 1 "$FILL"); do cs+=("$BENCH_ID-k$i"); done
  add_ns "${cs[@]}"
  # sample LEVEL: the network holds LEVEL-1 attachments; time connecting container #LEVEL.
  : > "$work/fill.txt"
  sample_at() {
    local level=$1 c=${cs[$(( $1 - 1 ))]} s e k
    : > "$work/at$level.ms"
    for k in $(seq 1 "$SAMPLES"); do
      s=$(now_ns); $V net connect scale "$c" >/dev/null; e=$(now_ns)
      echo $(( (e - s) / 1000 )) >> "$work/at$level.ms"
      $V net disconnect "$c" scale >/dev/null
    done
    echo "$level $(median < "$work/at$level.ms")" >> "$work/fill.txt"
  }
  # fill_to COUNT: connect containers (in batches of 100) until the network holds COUNT.
  held=0
  fill_to() {
    while [ "$held" -lt "$1" ]; do
      local upto=$(( held + 100 < $1 ? held + 100 : $1 ))
      $V net connect scale "${cs[@]:$held:$((upto - held))}" >/dev/null
      held=$upto
    done
  }
  fill_to 9; sample_at 10
  fill_to $((FILL - 1)); sample_at "$FILL"
  node -e "
    const rows = require('fs').readFileSync('$work/fill.txt', 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    const [[l1, a], [l2, b]] = rows;
    console.log('single connect at fill level (median of $SAMPLES, whole command)');
    console.log('  connect #' + String(l1).padEnd(5) + (a / 1000).toFixed(1).padStart(9) + ' ms');
    console.log('  connect #' + String(l2).padEnd(5) + (b / 1000).toFixed(1).padStart(9) + ' ms');
    console.log('  #' + l2 + ' / #' + l1 + '                ' + (b / a).toFixed(2).padStart(6) + '      (goal ≤ 1.20)');
  "
  echo "  samples (µs): #10 $(paste -sd' ' "$work/at10.ms"); #$FILL $(paste -sd' ' "$work/at$FILL.ms")"
fi
