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
cat > "$raw/up.nft" <<'NFT'
table inet rawbench {
  set bridges { type ifname; elements = { "vb-raw" } }
  chain fwd { type filter hook forward priority filter; policy accept; ct state established,related accept; iifname "vb-raw" oifname "vb-raw" accept; iifname "vb-raw" oifname @bridges drop; }
  chain post { type nat hook postrouting priority srcnat; ip saddr 10.77.0.0/24 oifname != @bridges masquerade; }
}
NFT
cat > "$raw/down.nft" <<'NFT'
delete table inet rawbench
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
