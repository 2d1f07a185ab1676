#!/usr/bin/env bash
# iperf3 between two workloads on one volt network: no policies, 1,000
# policies (the server isolated, the client allowed by one of them), and, for
# contrast, 1,000 firewall rules in front of it (linear). TCP and UDP,
# medians of REPS runs of DURATION seconds, in one run.
# Goal: 1,000 policies ≥ 0.95× the throughput without.
source "$(dirname "$0")/lib.sh"
command -v iperf3 >/dev/null || { echo "bench: iperf3 missing (bash scripts/setup.sh installs it)"; exit 1; }
DURATION=${DURATION:-5}
REPS=${REPS:-3}
WORK=$(mktemp -d /tmp/volt-bench-dp.XXXXXX)
SRV="$BENCH_ID-srv"
CLI="$BENCH_ID-cli"
IPERF_PID=""
dp_cleanup() {
  [ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
  ip netns del "$SRV" 2>/dev/null || true
  ip netns del "$CLI" 2>/dev/null || true
  rm -rf "$WORK"
  bench_cleanup
}
trap dp_cleanup EXIT
volt() { in_ns env VOLT_ROOT="$BENCH_ROOT" node "$REPO/core/bin/run.js" "$@"; }

volt net create --name bench --subnet 10.77.0.0/24 >/dev/null
for n in "$SRV" "$CLI"; do ip netns add "$n"; ip -n "$n" link set lo up; done
volt container register srv --netns "/run/netns/$SRV" >/dev/null
volt container register cli --netns "/run/netns/$CLI" >/dev/null
SRV_IP=$(volt net connect bench srv -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).ip))')
volt net connect bench cli >/dev/null
ip netns exec "$SRV" iperf3 -s >/dev/null 2>&1 &
IPERF_PID=$!
sleep 1

node - "$WORK" <<'NODE'
const fs = require('fs');
const [work] = process.argv.slice(2);
// 999 policies isolate srv (any workload, ports 10000-10998), one lets cli reach iperf3 (tcp and udp 5201).
const policies = Array.from({ length: 999 }, (_, i) => ({ name: `p${i}`, from: 'any', to: 'srv', port: String(10000 + i), proto: 'tcp', action: 'allow' }));
policies.push({ name: 'iperf', from: 'cli', to: 'srv', port: '5201', proto: 'any', action: 'allow' });
fs.writeFileSync(`${work}/policies.json`, JSON.stringify({ policies }));
fs.writeFileSync(`${work}/no-policies.json`, JSON.stringify({ policies: [] }));
// 1,000 rules that do not match the test traffic, in front of it.
const rules = Array.from({ length: 1000 }, (_, i) => ({ name: `r${i}`, source: 'any', dest: `10.${100 + (i >> 8)}.${i & 255}.1`, port: String(1000 + i), proto: 'tcp', action: 'drop' }));
fs.writeFileSync(`${work}/rules.json`, JSON.stringify({ rules }));
fs.writeFileSync(`${work}/no-rules.json`, JSON.stringify({ rules: [] }));
NODE

# One iperf3 run, in Gbit/s (receiver side).
once() {
  ip netns exec "$CLI" iperf3 -c "$SRV_IP" -t "$DURATION" -J "$@" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const r = JSON.parse(s);
      if (r.error) { console.error(r.error); process.exit(1); }
      const e = r.end;
      const bps = (e.sum_received && e.sum_received.bits_per_second) || (e.sum && e.sum.bits_per_second);
      console.log((bps / 1e9).toFixed(3));
    });'
}
configure() {
  case $1 in
    none) volt net policy apply -f "$WORK/no-policies.json" >/dev/null; volt net firewall apply -f "$WORK/no-rules.json" >/dev/null ;;
    policies) volt net policy apply -f "$WORK/policies.json" >/dev/null; volt net firewall apply -f "$WORK/no-rules.json" >/dev/null ;;
    rules) volt net policy apply -f "$WORK/no-policies.json" >/dev/null; volt net firewall apply -f "$WORK/rules.json" >/dev/null ;;
  esac
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Cases interleaved run by run, so a busy moment on the machine hits all of them alike.
declare -A V
for rep in $(seq 1 "$REPS"); do
  for case in none policies rules; do
    configure "$case"
    [ "$rep" = 1 ] && echo "$case: $(volt net policy test --from cli --to srv --port 5201 | head -1)" >&2
    V[$case-tcp]+="$(once) "
    V[$case-udp]+="$(once -u -b 0 -l 1400) "
  done
done
declare -A R
for k in "${!V[@]}"; do
  # shellcheck disable=SC2086
  R[$k]=$(median ${V[$k]})
done
volt net check >/dev/null || echo "warning: volt net check reports drift after the benchmark" >&2

ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
printf '%-44s %12s %8s %12s %8s\n' "case" "TCP Gbit/s" "ratio" "UDP Gbit/s" "ratio"
printf '%-44s %12s %8s %12s %8s\n' "no policies, no rules" "${R[none-tcp]}" "1.00" "${R[none-udp]}" "1.00"
printf '%-44s %12s %8s %12s %8s\n' "1,000 policies (srv isolated, cli allowed)" "${R[policies-tcp]}" "$(ratio "${R[policies-tcp]}" "${R[none-tcp]}")" "${R[policies-udp]}" "$(ratio "${R[policies-udp]}" "${R[none-udp]}")"
printf '%-44s %12s %8s %12s %8s\n' "1,000 firewall rules before it (linear)" "${R[rules-tcp]}" "$(ratio "${R[rules-tcp]}" "${R[none-tcp]}")" "${R[rules-udp]}" "$(ratio "${R[rules-udp]}" "${R[none-udp]}")"
echo "goal: 1,000 policies ≥ 0.95× the throughput without (${REPS} runs of ${DURATION} s each, medians)"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
