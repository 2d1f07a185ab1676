#!/usr/bin/env bash
# N containers (default 1,000) connected one after another to one network, per tool:
#   volt net connect, CNI bridge + host-local ADD, netavark setup
# Prints the time of the 10th, 100th, 500th and Nth connect and the ratio of
# the last 20 to connects 1-20 (medians, against noise). Issue goal for volt:
# the 1,000th ≤ 1.2 × the 10th.
source "$(dirname "$0")/lib.sh"
N=${N:-1000}
CNI=/usr/lib/cni
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
TOOLS=${TOOLS:-"volt cni netavark"}
work=$(mktemp -d -p "$BENCH_ROOT")
cleanup_containers() { for i in $(seq 1 "$N"); do echo "netns del $BENCH_ID-c$i"; done | ip -force -batch - 2>/dev/null || true; }
trap 'cleanup_containers; bench_cleanup' EXIT
for i in $(seq 1 "$N"); do echo "netns add $BENCH_ID-c$i"; done | ip -batch -
# /21: room for 1,000 containers in each tool's network.
in_ns $VOLT net create --name scale --subnet 10.72.0.0/21 >/dev/null
cat > "$work/cni.json" <<JSON
{ "cniVersion": "1.0.0", "name": "scale", "type": "bridge", "bridge": "cni-scale", "isGateway": true, "ipMasq": true,
  "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.80.0.0/21", "gateway": "10.80.0.1" }]], "dataDir": "$work/cni-ipam" } }
JSON
mkdir -p "$work/netavark"

now_us() { date +%s%6N; }
# connect_one TOOL I: one connect, timed by the caller.
connect_one() {
  local c="$BENCH_ID-c$2"
  case $1 in
    volt) in_ns $VOLT net connect scale "$c" >/dev/null ;;
    cni) in_ns env CNI_COMMAND=ADD CNI_CONTAINERID="c$2" CNI_NETNS="/run/netns/$c" CNI_IFNAME=eth1 CNI_PATH=$CNI $CNI/bridge < "$work/cni.json" >/dev/null ;;
    netavark)
      local id ip
      id=$(printf '%064x' "$2")
      ip="10.88.$(( ($2 + 1) / 256 )).$(( ($2 + 1) % 256 ))"
      printf '{"container_id":"%s","container_name":"c%s","networks":{"scale":{"interface_name":"eth2","static_ips":["%s"]}},"network_info":{"scale":{"name":"scale","id":"%s","driver":"bridge","network_interface":"nv-scale","subnets":[{"subnet":"10.88.0.0/21","gateway":"10.88.0.1"}],"ipv6_enabled":false,"internal":false,"dns_enabled":false}}}' \
        "$id" "$2" "$ip" "$(printf '%064x' 0)" > "$work/na.json"
      in_ns "$NETAVARK" --config "$work/netavark" setup "/run/netns/$c" < "$work/na.json" >/dev/null ;;
  esac
}

printf '%-10s %8s %8s %8s %8s %12s %12s %8s\n' tool "#10" "#100" "#500" "#$N" "med 1-20" "med last 20" ratio
for tool in $TOOLS; do
  times="$work/$tool.times"
  : > "$times"
  for i in $(seq 1 "$N"); do
    s=$(now_us); connect_one "$tool" "$i"; e=$(now_us)
    echo $(( e - s )) >> "$times"
  done
  node -e "
    const t = require('fs').readFileSync('$times', 'utf8').trim().split('\n').map((x) => Number(x) / 1000);
    const at = (k) => (t[k - 1] ?? NaN).toFixed(1);
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
    const first = med(t.slice(0, 20)), last = med(t.slice(-20));
    console.log('$tool'.padEnd(10) + ' ' + [at(10), at(100), at(500), at(t.length)].map((x) => x.padStart(8)).join(' ') + ' ' + first.toFixed(1).padStart(12) + ' ' + last.toFixed(1).padStart(12) + ' ' + (last / first).toFixed(2).padStart(8));
  "
done
echo "(ms per connect, wall clock including process start; ratio = median of the last 20 / median of the first 20)"
