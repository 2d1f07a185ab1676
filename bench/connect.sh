#!/usr/bin/env bash
# Connect + disconnect of one container, side by side in one run (hyperfine medians):
#   volt net connect / disconnect           (IPAM, MAC, state, veth, address, route)
#   the same on a dual-stack network         (--subnet6: a v6 address, route, ports6 element too)
#   CNI bridge plugin + host-local IPAM      ADD / DEL (Debian's containernetworking-plugins)
#   netavark setup / teardown                (Debian's netavark, iptables firewall driver)
#   node -e 0                                (what any Node CLI pays before doing anything)
# on equivalent networks (a bridge with gateway and NAT per tool). Issue goal:
# (volt connect − node -e 0) ≤ 1.0 × netavark setup. Issue 14: dual-stack connect ≤ 1.2 × the
# IPv4-only connect (medians, same run).
source "$(dirname "$0")/lib.sh"
CNI=/usr/lib/cni
NETAVARK=${NETAVARK:-/usr/lib/podman/netavark}
[ -x "$CNI/bridge" ] && [ -x "$CNI/host-local" ] || { echo "bench: containernetworking-plugins missing"; exit 1; }
[ -x "$NETAVARK" ] || { echo "bench: netavark missing ($NETAVARK)"; exit 1; }
C_NS="$BENCH_ID-c"
ip netns add "$C_NS"
ip -n "$C_NS" link set lo up
trap 'ip netns del "$C_NS" 2>/dev/null || true; bench_cleanup' EXIT
work=$(mktemp -d -p "$BENCH_ROOT")
RUNS=${RUNS:-20}

# volt: its own network; the container is the named namespace.
in_ns $VOLT net create --name bench --subnet 10.77.0.0/24 >/dev/null
# The same container on a dual-stack network (one network at a time: each prepare disconnects it first).
in_ns $VOLT net create --name bench6 --subnet 10.76.0.0/24 --subnet6 fd00:76::/64 >/dev/null
VC="VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js"
# The same volt on the process path (ip, nft, nsenter programs instead of rtnetlink/libnftables in-process).
VP="VOLT_KERNEL_ACCESS=process $VC"

# CNI: bridge + host-local, gateway and masquerade like volt's network.
cat > "$work/cni.json" <<JSON
{ "cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni-bench", "isGateway": true, "ipMasq": true,
  "ipam": { "type": "host-local", "ranges": [[{ "subnet": "10.78.0.0/24", "gateway": "10.78.0.1" }]], "dataDir": "$work/cni-ipam" } }
JSON
CNI_ENV="CNI_CONTAINERID=benchc0 CNI_NETNS=/run/netns/$C_NS CNI_IFNAME=eth1 CNI_PATH=$CNI"
cni_add="sh -c '$CNI_ENV CNI_COMMAND=ADD $CNI/bridge < $work/cni.json >/dev/null'"
cni_del="sh -c '$CNI_ENV CNI_COMMAND=DEL $CNI/bridge < $work/cni.json >/dev/null'"
cni_add_p="sh -c '$CNI_ENV CNI_COMMAND=ADD $CNI/bridge < $work/cni.json >/dev/null 2>&1 || true'"
cni_del_p="sh -c '$CNI_ENV CNI_COMMAND=DEL $CNI/bridge < $work/cni.json >/dev/null 2>&1 || true'"

# netavark: its options (podman does the IPAM, so the address is given).
ID=$(printf 'b%.0s' $(seq 1 64))
cat > "$work/netavark.json" <<JSON
{ "container_id": "$ID", "container_name": "bench",
  "networks": { "bench": { "interface_name": "eth2", "static_ips": ["10.79.0.2"] } },
  "network_info": { "bench": { "name": "bench", "id": "$ID", "driver": "bridge", "network_interface": "nv-bench",
    "subnets": [{ "subnet": "10.79.0.0/24", "gateway": "10.79.0.1" }], "ipv6_enabled": false, "internal": false, "dns_enabled": false } } }
JSON
mkdir -p "$work/netavark"
na_setup="sh -c '$NETAVARK --config $work/netavark setup /run/netns/$C_NS < $work/netavark.json >/dev/null'"
na_teardown="sh -c '$NETAVARK --config $work/netavark teardown /run/netns/$C_NS < $work/netavark.json >/dev/null'"
na_setup_p="sh -c '$NETAVARK --config $work/netavark setup /run/netns/$C_NS < $work/netavark.json >/dev/null 2>&1 || true'"
na_teardown_p="sh -c '$NETAVARK --config $work/netavark teardown /run/netns/$C_NS < $work/netavark.json >/dev/null 2>&1 || true'"

# Sanity: each tool really connects the container once before measuring.
in_ns sh -c "$VC net connect bench $C_NS >/dev/null && $VC net disconnect $C_NS >/dev/null"
# The dual-stack connect really gives the container an IPv6 address of the prefix.
in_ns sh -c "$VC net connect bench6 $C_NS >/dev/null"
addrs6=$(ip -n "$C_NS" -6 addr show) # not piped into grep -q: with pipefail, ip's SIGPIPE would fail the check
[[ "$addrs6" == *"inet6 fd00:76::"* ]] || { echo "bench: dual-stack connect gave no IPv6 address: $addrs6"; exit 1; }
in_ns sh -c "$VC net disconnect $C_NS >/dev/null"
in_ns sh -c "$CNI_ENV CNI_COMMAND=ADD $CNI/bridge < $work/cni.json >/dev/null && $CNI_ENV CNI_COMMAND=DEL $CNI/bridge < $work/cni.json >/dev/null"
in_ns sh -c "$NETAVARK --config $work/netavark setup /run/netns/$C_NS < $work/netavark.json >/dev/null && $NETAVARK --config $work/netavark teardown /run/netns/$C_NS < $work/netavark.json >/dev/null"

out=$(mktemp -p "$BENCH_ROOT")
X="ip netns exec $BENCH_NS"
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$out" \
  -n 'node -e 0' --prepare true "$X node -e 0" \
  -n 'volt net connect' --prepare "$X sh -c '$VC net disconnect $C_NS >/dev/null 2>&1 || true'" "$X sh -c '$VC net connect bench $C_NS >/dev/null'" \
  -n 'volt net disconnect' --prepare "$X sh -c '$VC net connect bench $C_NS >/dev/null 2>&1 || true'" "$X sh -c '$VC net disconnect $C_NS >/dev/null'" \
  -n 'volt connect dual-stack' --prepare "$X sh -c '$VC net disconnect $C_NS >/dev/null 2>&1 || true'" "$X sh -c '$VC net connect bench6 $C_NS >/dev/null'" \
  -n 'volt disconnect dual-stack' --prepare "$X sh -c '$VC net connect bench6 $C_NS >/dev/null 2>&1 || true'" "$X sh -c '$VC net disconnect $C_NS >/dev/null'" \
  -n 'volt connect (process path)' --prepare "$X sh -c '$VC net disconnect $C_NS >/dev/null 2>&1 || true'" "$X sh -c '$VP net connect bench $C_NS >/dev/null'" \
  -n 'CNI bridge+host-local ADD' --prepare "$X $cni_del_p" "$X $cni_add" \
  -n 'CNI bridge+host-local DEL' --prepare "$X $cni_add_p" "$X $cni_del" \
  -n 'netavark setup' --prepare "$X $na_teardown_p" "$X $na_setup" \
  -n 'netavark teardown' --prepare "$X $na_setup_p" "$X $na_teardown" >/dev/null
# `ip netns exec` + `sh -c` wrap every command alike; the node baseline pays the same wrapper.
names=('node -e 0' 'volt net connect' 'volt net disconnect' 'volt connect dual-stack' 'volt disconnect dual-stack' 'volt connect (process path)' 'CNI bridge+host-local ADD' 'CNI bridge+host-local DEL' 'netavark setup' 'netavark teardown')
declare -a m
for i in "${!names[@]}"; do m[$i]=$(median_ms "$out" "$i"); done
printf '%-30s %10s\n' "operation (median of $RUNS)" "ms"
for i in "${!names[@]}"; do printf '%-30s %10s\n' "${names[$i]}" "${m[$i]}"; done
node -e "
const [node, vc, vd, vc6, vd6, vcp, ca, cd, ns, nt] = process.argv.slice(1).map(Number);
console.log('');
console.log('volt connect − node -e 0     ' + (vc - node).toFixed(1).padStart(10) + '   = ' + ((vc - node) / ns).toFixed(2) + ' × netavark setup (goal ≤ 1.00)');
console.log('volt disconnect − node -e 0  ' + (vd - node).toFixed(1).padStart(10) + '   = ' + ((vd - node) / nt).toFixed(2) + ' × netavark teardown');
console.log('volt connect / CNI ADD       ' + (vc / ca).toFixed(2).padStart(10));
console.log('dual-stack / v4-only connect ' + (vc6 / vc).toFixed(2).padStart(10) + ' × (goal ≤ 1.20; less node -e 0: ' + ((vc6 - node) / (vc - node)).toFixed(2) + ' ×)');
console.log('dual-stack / v4-only discon. ' + (vd6 / vd).toFixed(2).padStart(10) + ' ×');
console.log('process path − node -e 0     ' + (vcp - node).toFixed(1).padStart(10) + '   = ' + ((vcp - node) / ns).toFixed(2) + ' × netavark setup (in-process: ' + ((vc - node) / ns).toFixed(2) + ' ×)');
" "${m[@]}"
