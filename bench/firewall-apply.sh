#!/usr/bin/env bash
# Loading 10,000 firewall rules / 10,000 policies through volt (one
# `apply -f`) against raw `nft -f` of the equivalent ruleset, and adding one
# rule when 10 vs 10,000 exist; medians, in one run.
#
# Two raw baselines per case: the same ruleset volt installs (buckets and
# dispatch chains for rules, sets for policies), generated with volt's own
# generator but loaded by nft alone; and the naive one a person would write
# (one chain, one rule per rule or per policy).
# volt runs on libnftables in-process by default; the apply is also timed with
# VOLT_KERNEL_ACCESS=process (the nft program), side by side.
# Goals: volt apply ≤ 1.3× raw nft -f of the equivalent; adding one rule at
# 10,000 ≤ 2× adding one at 10.
source "$(dirname "$0")/lib.sh"
N=${N:-10000}
RUNS=${RUNS:-5}
WORK=$(mktemp -d /tmp/volt-bench-fw.XXXXXX)
CONTAINERS=()
fw_cleanup() {
  for c in "${CONTAINERS[@]}"; do ip netns del "$c" 2>/dev/null || true; done
  rm -rf "$WORK"
  bench_cleanup
}
trap fw_cleanup EXIT
volt() { in_ns env VOLT_ROOT="$BENCH_ROOT" node "$REPO/core/bin/run.js" "$@"; }

volt init >/dev/null
volt net create --name bench --subnet 10.77.0.0/24 >/dev/null
# 20 workloads: policies name workloads, and their elements need addresses.
for i in $(seq 1 20); do
  c="$BENCH_ID-c$i"
  ip netns add "$c"
  CONTAINERS+=("$c")
  volt container register "w$i" --netns "/run/netns/$c" >/dev/null
  volt net connect bench "w$i" >/dev/null
done

# Inputs: volt's YAML, and the two raw nft scripts for each case.
node - "$REPO" "$WORK" "$N" <<'NODE'
const [repo, work, nText] = process.argv.slice(2);
const n = Number(nText);
const fs = require('fs');
const ov = require(`${repo}/plugins/nftables/dist/overlay`);
const ip = (i) => `10.${100 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`;
// Rules: distinct destinations, one port each.
const rules = Array.from({ length: n }, (_, i) => ({ name: `r${i}`, source: '10.0.0.0/24', dest: ip(i), port: String(1000 + (i % 5000)), proto: 'tcp', action: 'accept' }));
// JSON (which is YAML too): volt parses it much faster than YAML syntax.
fs.writeFileSync(`${work}/rules.json`, JSON.stringify({ rules }));
fs.writeFileSync(`${work}/rules10.json`, JSON.stringify({ rules: rules.slice(0, 10) }));
const ruleSet = {
  rules: rules.map((r, i) => ({ name: r.name, order: (i + 1) * 1024, chain: 'forward', source: { kind: 'cidr', cidr: r.source }, dest: { kind: 'cidr', cidr: r.dest }, proto: 'tcp', ports: [{ from: Number(r.port), to: Number(r.port) }], action: 'accept' })),
  groups: {}, forwards: [], policies: [], networks: [],
};
// Policies: w_i -> w_j on 27 ports (20 x 19 x 27 = 10,260 >= n), first n.
const policies = [];
for (let p = 0; policies.length < n; p++) for (let a = 1; a <= 20 && policies.length < n; a++) for (let b = 1; b <= 20 && policies.length < n; b++) {
  if (a !== b) policies.push({ name: `p${policies.length}`, from: `w${a}`, to: `w${b}`, port: String(5000 + p), action: 'allow' });
}
fs.writeFileSync(`${work}/policies.json`, JSON.stringify({ policies: policies.map((p) => ({ ...p, proto: 'tcp' })) }));
// Addresses as volt assigns them (containers from .100 on, in connect order).
const addr = (w) => `10.77.0.${99 + Number(w.slice(1))}`;
const policySet = {
  rules: [], groups: {}, forwards: [], networks: [],
  policies: policies.map((p) => ({ name: p.name, from: { kind: 'addresses', addresses: [addr(p.from)] }, to: [addr(p.to)], proto: 'tcp', ports: [Number(p.port)], action: 'allow' })),
};
const table = (name, m) => {
  const out = [`table inet ${name} {`];
  for (const s of m.sets) out.push(`  ${s.kind} ${s.name} { type ${s.type}${s.map ? ` : ${s.map}` : ''}; ${s.flags.length ? `flags ${s.flags.join(',')}; ` : ''}}`);
  for (const c of m.chains) out.push(`  chain ${c.name} {`, ...c.rules.map((r) => `    ${r}`), '  }');
  out.push('}');
  const bySet = new Map();
  for (const e of m.elements) bySet.set(e.set, [...(bySet.get(e.set) ?? []), e.value ? `${e.key} : ${e.value}` : e.key]);
  for (const [s, els] of bySet) for (let i = 0; i < els.length; i += 500) out.push(`add element inet ${name} ${s} { ${els.slice(i, i + 500).join(', ')} }`);
  return out.join('\n') + '\n';
};
const hook = (name) => `table inet ${name} {\n  chain rawforward {\n    type filter hook forward priority 10; policy accept;\n    jump volt-fw-forward\n    jump volt-policy\n  }\n}\n`;
fs.writeFileSync(`${work}/raw-rules-same.nft`, table('rawbench', ov.overlayModel(ruleSet)) + hook('rawbench'));
fs.writeFileSync(`${work}/raw-policies-same.nft`, table('rawbench', ov.overlayModel(policySet)) + hook('rawbench'));
const naive = (lines) => `table inet rawbench {\n  chain rawforward {\n    type filter hook forward priority 10; policy accept;\n${lines.map((l) => `    ${l}`).join('\n')}\n  }\n}\n`;
fs.writeFileSync(`${work}/raw-rules-naive.nft`, naive(ruleSet.rules.map((r) => ov.userRuleTexts(r)[0])));
fs.writeFileSync(`${work}/raw-policies-naive.nft`, naive(policySet.policies.map((p) => `ip saddr ${p.from.addresses[0]} ip daddr ${p.to[0]} tcp dport ${p.ports[0]} accept`)));
fs.writeFileSync(`${work}/empty-rules.json`, '{"rules": []}');
fs.writeFileSync(`${work}/empty-policies.json`, '{"policies": []}');
NODE

V="ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT node $REPO/core/bin/run.js"
RAWDEL="ip netns exec $BENCH_NS sh -c 'nft delete table inet rawbench 2>/dev/null; true'"
out=$(mktemp --suffix=.json)
echo "loading $N rules / policies (${RUNS} runs each; this takes a few minutes)" >&2
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$out" \
  --prepare "$V net firewall apply -f $WORK/empty-rules.json" -n "volt net firewall apply ($N rules)" "$V net firewall apply -f $WORK/rules.json" \
  --prepare "$RAWDEL" -n "raw nft -f, same ruleset (rules)" "ip netns exec $BENCH_NS nft -f $WORK/raw-rules-same.nft" \
  --prepare "$RAWDEL" -n "raw nft -f, one chain ($N rules)" "ip netns exec $BENCH_NS nft -f $WORK/raw-rules-naive.nft" \
  --prepare "$V net policy apply -f $WORK/empty-policies.json" -n "volt net policy apply ($N policies)" "$V net policy apply -f $WORK/policies.json" \
  --prepare "$RAWDEL" -n "raw nft -f, same ruleset (policy sets)" "ip netns exec $BENCH_NS nft -f $WORK/raw-policies-same.nft" \
  --prepare "$RAWDEL" -n "raw nft -f, one chain ($N policy rules)" "ip netns exec $BENCH_NS nft -f $WORK/raw-policies-naive.nft" \
  --prepare "$V net firewall apply -f $WORK/empty-rules.json" -n "volt net firewall apply ($N rules, VOLT_KERNEL_ACCESS=process)" "ip netns exec $BENCH_NS env VOLT_ROOT=$BENCH_ROOT VOLT_KERNEL_ACCESS=process node $REPO/core/bin/run.js net firewall apply -f $WORK/rules.json" >/dev/null
in_ns nft delete table inet rawbench 2>/dev/null || true

# Adding one rule with 10 rules in place, then with N.
ADD="$V net firewall add --name bench-one --source any --dest 10.99.0.1 --port 80 --proto tcp --action drop"
DEL="$V net firewall delete --name bench-one >/dev/null 2>&1; true"
out2=$(mktemp --suffix=.json)
volt net policy apply -f "$WORK/empty-policies.json" >/dev/null
volt net firewall apply -f "$WORK/rules10.json" >/dev/null
hyperfine -N --warmup 2 --runs "${RUNS_ADD:-15}" --export-json "$out2" --prepare "sh -c '$DEL'" -n 'volt net firewall add (10 rules)' "$ADD" >/dev/null
volt net firewall apply -f "$WORK/rules.json" >/dev/null
out3=$(mktemp --suffix=.json)
hyperfine -N --warmup 2 --runs "${RUNS_ADD:-15}" --export-json "$out3" --prepare "sh -c '$DEL'" -n "volt net firewall add ($N rules)" "$ADD" >/dev/null
volt net check >/dev/null || echo "warning: volt net check reports drift after the benchmark" >&2

r() { median_ms "$1" "$2"; }
# CPU time (user + system, mean, the process and its children): steadier than wall time on a busy machine.
c() { node -e "const r=require('$1').results[$2];console.log(((r.user+r.system)*1000).toFixed(1))"; }
ratio() { node -e "console.log(($1/$2).toFixed(2))"; }
va=$(r "$out" 0); rs=$(r "$out" 1); rn=$(r "$out" 2); vp=$(r "$out" 3); ps=$(r "$out" 4); pn=$(r "$out" 5)
vq=$(r "$out" 6); cvq=$(c "$out" 6)
cva=$(c "$out" 0); crs=$(c "$out" 1); crn=$(c "$out" 2); cvp=$(c "$out" 3); cps=$(c "$out" 4); cpn=$(c "$out" 5)
a10=$(r "$out2" 0); aN=$(r "$out3" 0); ca10=$(c "$out2" 0); caN=$(c "$out3" 0)
row() { printf '%-46s %9s %7s %7s %9s %7s %7s\n' "$@"; }
row "operation" "wall ms" "÷same" "÷chain" "CPU ms" "÷same" "÷chain"
row "raw nft -f, same ruleset ($N rules)" "$rs" "1.00" "" "$crs" "1.00" ""
row "raw nft -f, one chain ($N rules)" "$rn" "" "1.00" "$crn" "" "1.00"
row "volt net firewall apply -f ($N rules)" "$va" "$(ratio "$va" "$rs")" "$(ratio "$va" "$rn")" "$cva" "$(ratio "$cva" "$crs")" "$(ratio "$cva" "$crn")"
row "  the same, VOLT_KERNEL_ACCESS=process (nft)" "$vq" "$(ratio "$vq" "$rs")" "$(ratio "$vq" "$rn")" "$cvq" "$(ratio "$cvq" "$crs")" "$(ratio "$cvq" "$crn")"
row "raw nft -f, same ruleset ($N policies: sets)" "$ps" "1.00" "" "$cps" "1.00" ""
row "raw nft -f, one chain ($N policy rules)" "$pn" "" "1.00" "$cpn" "" "1.00"
row "volt net policy apply -f ($N policies)" "$vp" "$(ratio "$vp" "$ps")" "$(ratio "$vp" "$pn")" "$cvp" "$(ratio "$cvp" "$cps")" "$(ratio "$cvp" "$cpn")"
row "volt net firewall add, 10 rules exist" "$a10" "1.00" "" "$ca10" "1.00" ""
row "volt net firewall add, $N rules exist" "$aN" "$(ratio "$aN" "$a10")" "" "$caN" "$(ratio "$caN" "$ca10")" ""
echo "÷same: against raw nft -f of the ruleset volt installs; ÷chain: against one chain of one rule per rule/policy"
echo "goals: apply ≤ 1.3× raw nft -f of the equivalent ruleset; add at $N ≤ 2× add at 10"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$out" "$out2" "$out3"
