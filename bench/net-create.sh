#!/usr/bin/env bash
# `volt net create` + `volt net delete` against the same bridge + address +
# nft table done with raw `ip -batch` + `nft -f`, in one run (medians).
source "$(dirname "$0")/lib.sh"
in_ns $VOLT init >/dev/null   # default network + table exist, as on a real host
raw=$(mktemp -d)
cat > "$raw/up.ip" <<'IP'
link add name vb-raw address 02:00:00:00:00:aa type bridge stp_state 0 forward_delay 0
link set vb-raw mtu 1500 addrgenmode none
addr replace 10.77.0.1/24 dev vb-raw
link set vb-raw up
IP
cat > "$raw/down.ip" <<'IP'
link del vb-raw
IP
# The raw peer does what volt does per network on a host whose table already
# exists: one chain pair + set/map elements in one transaction, then removes them.
cat > "$raw/base.nft" <<'NFT'
table inet rawbench {
  set bridges { type ifname; }
  set nat_subnets { type ipv4_addr; flags interval; }
  map forward_from { type ifname : verdict; }
  map input_from { type ifname : verdict; }
  chain forward_base { type filter hook forward priority filter; policy accept; ct state established,related accept; iifname vmap @forward_from; iifname @bridges drop; oifname @bridges drop; }
  chain input_base { type filter hook input priority filter; policy accept; ct state established,related accept; iifname vmap @input_from; }
  chain post_base { type nat hook postrouting priority srcnat; policy accept; ip saddr @nat_subnets oifname != @bridges masquerade; }
}
NFT
in_ns nft -f "$raw/base.nft"
cat > "$raw/up.nft" <<'NFT'
add chain inet rawbench net-bench-out
add chain inet rawbench net-bench-in
add rule inet rawbench net-bench-out oifname "vb-raw" accept
add rule inet rawbench net-bench-out oifname @bridges drop
add rule inet rawbench net-bench-out accept
add rule inet rawbench net-bench-in ip daddr 10.77.0.1 udp dport 53 accept
add rule inet rawbench net-bench-in udp dport 67 accept
add rule inet rawbench net-bench-in drop
add element inet rawbench bridges { "vb-raw" }
add element inet rawbench nat_subnets { 10.77.0.0/24 }
add element inet rawbench forward_from { "vb-raw" : jump net-bench-out }
add element inet rawbench input_from { "vb-raw" : jump net-bench-in }
NFT
cat > "$raw/down.nft" <<'NFT'
delete element inet rawbench forward_from { "vb-raw" }
delete element inet rawbench input_from { "vb-raw" }
delete element inet rawbench bridges { "vb-raw" }
delete element inet rawbench nat_subnets { 10.77.0.0/24 }
delete chain inet rawbench net-bench-out
delete chain inet rawbench net-bench-in
NFT
out=$(mktemp)
hyperfine -N --warmup 2 --runs "${RUNS:-20}" --export-json "$out" \
  -n 'raw ip -batch + nft -f (create+delete)' \
  "ip netns exec $BENCH_NS sh -c 'ip -batch $raw/up.ip && nft -f $raw/up.nft && ip -batch $raw/down.ip && nft -f $raw/down.nft'" \
  -n 'volt net create + delete' \
  "ip netns exec $BENCH_NS sh -c 'VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js net create --name bench --subnet 10.77.0.0/24 >/dev/null && VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js net delete bench >/dev/null'" >/dev/null
r=$(median_ms "$out" 0); v=$(median_ms "$out" 1)
printf '%-42s %10s %8s\n' "operation" "median ms" "ratio"
printf '%-42s %10s %8s\n' "raw ip -batch + nft -f (create+delete)" "$r" "1.00"
printf '%-42s %10s %8s\n' "volt net create + delete" "$v" "$(node -e "console.log(($v/$r).toFixed(2))")"
rm -rf "$raw" "$out"
