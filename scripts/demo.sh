#!/usr/bin/env bash
# Volt's main job, end to end, inside a sandbox. The sandbox is a "host"
# network namespace with an uplink to a namespace that plays the internet,
# plus three empty namespaces that play containers. Everything after the
# sandbox is built is done with volt commands: volt creates the networks,
# connects the containers, serves names, sets the firewall rule, the port
# forward, the policy and the TLS ingress, and repairs drift. Programs that
# run inside the containers (a web server, ping, curl, dig) are the
# workloads and clients that prove each step with real traffic. Every label
# says what was proven.
#
# Nothing touches this machine's own network. Everything is removed at the
# end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
ID="vd$$"
H="$ID-host" O="$ID-net" WEB="$ID-web" TOOL="$ID-tool" DB="$ID-db"
ROOT=$(mktemp -d /tmp/volt-demo.XXXXXX)
export VOLT_ROOT=$ROOT
mkdir -p "$ROOT/etc/systemd"     # so `volt init` shows the units it installs (into $ROOT, not /etc)
PIDS=()
START=$SECONDS

VM_PID=
cleanup() {
  [ -n "$VM_PID" ] && kill -9 "$VM_PID" 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in "$WEB" "$TOOL" "$DB" "$O" "$H"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$ROOT"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
volt() { printf '\033[2m$ volt %s\033[0m\n' "$*"; ip netns exec "$H" node "$REPO/core/bin/run.js" "$@"; }
quiet() { ip netns exec "$H" node "$REPO/core/bin/run.js" "$@"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ok() { printf '  \033[32m✓\033[0m %s\n' "$*"; }
fail() { printf '  \033[31m✗ %s\033[0m\n' "$*"; exit 1; }
# expect yes|no LABEL COMMAND...: the command must succeed (yes) or fail (no).
expect() {
  local want=$1 what=$2; shift 2
  if "$@" >/dev/null 2>&1; then got=yes; else got=no; fi
  [ "$got" = "$want" ] && ok "$what" || fail "$what (unexpected)"
}
# wait_for FILE PATTERN: a background program's log says it is ready.
wait_for() { for _ in $(seq 1 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; cat "$1"; fail "timed out waiting for: $2"; }
ip_of() { sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p' | head -1; }

say "sandbox: host $H, internet $O (198.18.0.2), containers $WEB $TOOL $DB; VOLT_ROOT=$ROOT"
for ns in "$H" "$O" "$WEB" "$TOOL" "$DB"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$H" link add uplink0 type veth peer name wan0 netns "$O"
ip -n "$H" addr add 198.18.0.1/24 dev uplink0 && ip -n "$H" link set uplink0 up
ip -n "$O" addr add 198.18.0.2/24 dev wan0 && ip -n "$O" link set wan0 up
ip -n "$H" route add default via 198.18.0.2
echo "  (from here on: volt only)"

say "networks, and the units that keep them after a reboot"
volt init
volt net create --name backend --subnet 10.30.0.0/24
volt net create --name internal --subnet 10.50.0.0/24 --no-nat

say "containers join with volt net connect"
WEB_IP=$(volt net connect backend "$WEB" -o json | ip_of); echo "  $WEB: $WEB_IP"
TOOL_IP=$(volt net connect backend "$TOOL" -o json | ip_of); echo "  $TOOL: $TOOL_IP"
DB_IP=$(volt net connect internal "$DB" -o json | ip_of); echo "  $DB: $DB_IP"
volt net inspect backend

say "a QEMU guest on the same bridge (it boots while the demo goes on)"
# The test suite's guest (busybox initramfs, Debian's kernel from scripts/setup.sh); DEMO_VM=0 skips it.
VM=no
if [ "${DEMO_VM:-1}" != 0 ] && ls /var/cache/volt-test/kernel/boot/vmlinuz-* >/dev/null 2>&1 && command -v qemu-system-x86_64 >/dev/null && [ -f build/test/harness/guest.js ]; then
  node -e '
    const fs = require("fs"), g = require("./build/test/harness/guest.js").guestImage();
    fs.copyFileSync(g.initrd, process.argv[1] + "/initrd.gz");
    fs.writeFileSync(process.argv[1] + "/vm.json", JSON.stringify({ vcpus: 1, memory_mib: 256, kernel: g.kernel, initrd: process.argv[1] + "/initrd.gz", cmdline: g.cmdline, network: [{ id: "eth0", network: "backend" }] }, null, 2));
  ' "$ROOT"
  volt vm create db-vm --config "$ROOT/vm.json"
  volt vm start db-vm
  VM_JSON=$(quiet vm inspect db-vm -o json)
  VM_PID=$(printf '%s' "$VM_JSON" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -1)
  VM_IP=$(printf '%s' "$VM_JSON" | ip_of)
  SERIAL=$(printf '%s' "$VM_JSON" | sed -n 's/.*"serialLog": *"\([^"]*\)".*/\1/p' | head -1)
  VM=yes
else
  echo "  skipped (DEMO_VM=0, or no guest kernel / qemu / build: run scripts/setup.sh)"
fi

say "the default policy, with real traffic"
expect yes "web → tool, same network: allowed"                  in_ns "$WEB" ping -c1 -W1 "$TOOL_IP"
expect yes "web → internet (198.18.0.2) through NAT: allowed"   in_ns "$WEB" ping -c1 -W1 198.18.0.2
expect no  "web → db on another network: denied"                in_ns "$WEB" ping -c1 -W1 "$DB_IP"
expect no  "internal network (db) → internet: denied"           in_ns "$DB" ping -c1 -W1 198.18.0.2
expect no  "internet → host, new connection: denied"            in_ns "$O" ping -c1 -W1 198.18.0.1

say "volt-dns: containers find each other by name"
ip netns exec "$H" node "$REPO/core/bin/run.js" dns serve --workers 0 >"$ROOT/dns.log" 2>&1 & PIDS+=($!)
wait_for "$ROOT/dns.log" "volt-dns: ready:"
got=$(in_ns "$TOOL" dig +short +time=2 +tries=1 @10.30.0.1 "$WEB" || true)
[ "$got" = "$WEB_IP" ] && ok "tool asks its gateway for \"$WEB\": $got" || fail "name lookup gave '$got', not $WEB_IP"
got=$(in_ns "$DB" dig +time=2 +tries=1 @10.50.0.1 "$WEB" | grep -o 'status: [A-Z]*' || true)
[ "$got" = "status: NXDOMAIN" ] && ok "db (internal network) does not see backend's names: NXDOMAIN" || fail "db lookup: $got"

say "a firewall rule: tool may not ping web"
volt net firewall add --name no-ping --source "$TOOL" --dest "$WEB" --proto icmp --action drop
expect no  "tool → web ping: denied by rule no-ping"   in_ns "$TOOL" ping -c1 -W1 "$WEB_IP"
expect yes "web → tool ping: still allowed"            in_ns "$WEB" ping -c1 -W1 "$TOOL_IP"

say "a web server in web, a port forward from the internet"
in_ns "$WEB" node -e 'require("http").createServer((q,s)=>s.end("hello from web\n")).listen(8080,()=>console.log("LISTENING"))' >"$ROOT/web.log" 2>&1 & PIDS+=($!)
wait_for "$ROOT/web.log" LISTENING
volt net port add --host-port 8080 --target "$WEB" --target-port 8080
got=$(in_ns "$O" curl -s -m 3 http://198.18.0.1:8080/ || true)
[ "$got" = "hello from web" ] && ok "internet → host:8080 → web:8080: \"$got\"" || fail "port forward answered '$got'"

say "a policy, and policy test agreeing with real traffic"
printf '\033[2m$ volt net policy test --from %s --to %s --port 8080\033[0m\n' "$DB" "$WEB"
if quiet net policy test --from "$DB" --to "$WEB" --port 8080; then fail "policy test said allowed before any policy"; fi
expect no  "db → web:8080 before the policy: denied (policy test said so too)"  in_ns "$DB" curl -s -m 2 "http://$WEB_IP:8080/"
volt net policy create --name db-to-web --from "$DB" --to "$WEB" --port 8080 --action allow
volt net policy test --from "$DB" --to "$WEB" --port 8080
expect yes "db → web:8080 with the policy: allowed, as policy test says"        in_ns "$DB" curl -s -m 2 "http://$WEB_IP:8080/"
expect no  "tool → web:8080: web is now isolated except for db's policy"        in_ns "$TOOL" curl -s -m 2 "http://$WEB_IP:8080/"

say "an ingress route with TLS, reached from the internet"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=app.example.test -addext subjectAltName=DNS:app.example.test \
  -keyout "$ROOT/app.key" -out "$ROOT/app.pem" 2>/dev/null
volt ingress create --name web --hostname app.example.test --backend "$WEB:8080" --tls manual --cert "$ROOT/app.pem" --key "$ROOT/app.key"
ip netns exec "$H" node "$REPO/core/bin/run.js" ingress serve --workers 1 >"$ROOT/ingress.log" 2>&1 & PIDS+=($!)
wait_for "$ROOT/ingress.log" "volt ingress: serving"
grep "volt ingress: opened" "$ROOT/ingress.log" | sed 's/^/  /'
got=$(in_ns "$O" curl -s -m 3 --cacert "$ROOT/app.pem" --resolve app.example.test:443:198.18.0.1 https://app.example.test/ || true)
[ "$got" = "hello from web" ] && ok "internet → https://app.example.test (verified certificate) → web: \"$got\"" || fail "ingress answered '$got'"
got=$(in_ns "$O" curl -s -m 3 -o /dev/null -w '%{http_code} %{redirect_url}' --resolve app.example.test:80:198.18.0.1 http://app.example.test/x || true)
[ "${got%% *}" = 308 ] && ok "internet → http://app.example.test: redirected to ${got#* }" || fail "http answered '$got'"

say "the QEMU guest, reached by name through volt-dns"
if [ "$VM" = yes ]; then
  wait_for "$SERIAL" VOLT-GUEST-READY
  got=$(in_ns "$TOOL" dig +short +time=2 +tries=1 @10.30.0.1 db-vm || true)
  [ "$got" = "$VM_IP" ] && ok "container tool → \"db-vm\" through volt-dns: $got" || fail "db-vm resolved to '$got', not $VM_IP"
  expect yes "container tool → VM db-vm ($VM_IP): ping, L2 peers on volt-backend" in_ns "$TOOL" ping -c1 -W2 "$VM_IP"
  got=$(printf 'nslookup %s\nexit\n' "$WEB" | in_ns "$TOOL" timeout 15 busybox nc "$VM_IP" 7777 | sed -n 's/^Address:[[:space:]]*\(10\.30\.0\.[0-9]*\)$/\1/p' | tail -1)
  [ "$got" = "$WEB_IP" ] && ok "VM db-vm → \"$WEB\" with the resolver DHCP gave it: $got" || fail "the guest resolved '$got', not $WEB_IP"
else
  echo "  skipped"
fi

say "status"
volt ps
volt net status

say "drift: someone else deletes a bridge and flushes the ruleset (not volt: this is the breakage)"
ip -n "$H" link del volt-internal
in_ns "$H" nft flush ruleset
printf '\033[2m$ volt net check\033[0m\n'; quiet net check && fail "check found no drift" || ok "volt net check reports the drift (exit $?)"
volt net up
volt net up | grep -q "nothing to do" && ok "a second volt net up: nothing to do" || fail "second net up changed something"
expect yes "web → internet again after the repair"            in_ns "$WEB" ping -c1 -W1 198.18.0.2
expect no  "web → db on another network: still denied"        in_ns "$WEB" ping -c1 -W1 "$DB_IP"
expect yes "internet → host:8080 → web: the forward is back"  in_ns "$O" curl -s -m 3 http://198.18.0.1:8080/

say "bad input is refused and changes nothing"
refused() { local what=$1; shift; printf '\033[2m$ volt %s\033[0m\n' "$*"; if out=$(quiet "$@" 2>&1); then fail "$what was accepted"; fi; printf '%s\n' "$out" | sed 's/^/  /'; ok "$what: refused (exit non-zero)"; }
refused "an overlapping subnet" net create --name bad --subnet 10.30.0.128/25
refused "deleting a network with containers attached" net delete backend
refused "a port forward to a workload that does not exist" net port add --host-port 9090 --target nobody --target-port 80
quiet net check >/dev/null && ok "volt net check: no drift after the refusals" || fail "a refusal changed something"

say "done in $((SECONDS - START)) s: the sandbox is removed"
