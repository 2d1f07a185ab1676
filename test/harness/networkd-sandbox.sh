#!/bin/bash
# Keeper of a "networkd sandbox host" for the volt test harness.
#
# Started by test/harness/sandbox-host.ts as
#   ip netns exec <host-netns> unshare -m --propagation slave bash networkd-sandbox.sh <root> <log-dir> <parent-pid>
# so it runs in the sandbox's network namespace and in a fresh mount namespace
# whose mounts are slaves of the machine's: named namespaces created later under
# /run/netns stay visible here, while the mounts made here do not leak out.
#
# What it does (TESTING.md, "Real systemd-networkd inside a sandbox host"):
#   - tmpfs over /run/systemd and /run/dbus only (/run/netns must stay visible)
#   - <root>/etc/systemd/network and <root>/run/systemd/network bind-mounted over
#     /etc/systemd/network and /run/systemd/network: what volt writes under
#     VOLT_ROOT is what networkd reads
#   - /run/systemd/netif owned by systemd-network
#   - a networkd.conf drop-in in /run/systemd/networkd.conf.d (tmpfs) that stops
#     networkd from removing routes/rules it did not make (ManageForeign*=no)
#   - a /dev/net/tun the unprivileged networkd can open (mode 0666, private node)
#   - dbus-daemon --system, then systemd-networkd, in a nested mount namespace in
#     which /sys is read-only (networkd then does not wait for udev); the rest of
#     the sandbox (volt, ip, tests) keeps a writable /sys like a real host
#   - waits (bounded) until networkd answers on the bus, prints
#       READY <keeper-pid> <networkd-pid> <dbus-pid>
#     and then sleeps until killed (or until <parent-pid> is gone), stopping
#     networkd and dbus on the way out.
# Any failure prints "FAIL <reason>" and exits non-zero.

set -u
root=${1:?usage: networkd-sandbox.sh ROOT LOGDIR PARENTPID}
logdir=${2:?usage: networkd-sandbox.sh ROOT LOGDIR PARENTPID}
parent=${3:?usage: networkd-sandbox.sh ROOT LOGDIR PARENTPID}
ready_timeout_ds=${VOLT_SANDBOX_READY_TIMEOUT_DS:-100} # tenths of a second

networkd_pid=
dbus_pid=
sleep_pid=

fail() {
  echo "FAIL $*"
  stop
  exit 1
}

stop() {
  [ -n "$sleep_pid" ] && kill "$sleep_pid" 2>/dev/null
  [ -n "$networkd_pid" ] && kill "$networkd_pid" 2>/dev/null
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2>/dev/null
  # bounded wait for both to go, then force
  for _ in $(seq 1 30); do
    alive=
    [ -n "$networkd_pid" ] && kill -0 "$networkd_pid" 2>/dev/null && alive=1
    [ -n "$dbus_pid" ] && kill -0 "$dbus_pid" 2>/dev/null && alive=1
    [ -z "$alive" ] && break
    sleep 0.1
  done
  [ -n "$networkd_pid" ] && kill -9 "$networkd_pid" 2>/dev/null
  [ -n "$dbus_pid" ] && kill -9 "$dbus_pid" 2>/dev/null
  networkd_pid=
  dbus_pid=
  return 0
}

trap 'stop; exit 0' TERM INT HUP

for d in "$root/etc/systemd/network" "$root/run/systemd/network" "$logdir"; do
  [ -d "$d" ] || fail "missing directory $d"
done

# ip netns exec must already have given this namespace its own sysfs; check it
# shows this netns' links (lo only is fine) rather than the machine's.
[ -e /sys/class/net/lo ] || fail "/sys does not look like a sysfs for this netns"

mount -t tmpfs -o mode=0755,nosuid tmpfs /run/systemd || fail "tmpfs on /run/systemd"
mkdir -p /run/dbus || fail "mkdir /run/dbus"
mount -t tmpfs -o mode=0755,nosuid tmpfs /run/dbus || fail "tmpfs on /run/dbus"

mkdir -p /run/systemd/network /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp \
  /run/systemd/networkd.conf.d /run/systemd/volt-sandbox || fail "mkdir under /run/systemd"
chown -R systemd-network:systemd-network /run/systemd/netif || fail "chown /run/systemd/netif"

mount --bind "$root/etc/systemd/network" /etc/systemd/network || fail "bind $root/etc/systemd/network"
mount --bind "$root/run/systemd/network" /run/systemd/network || fail "bind $root/run/systemd/network"

# networkd's defaults (ManageForeignRoutes=yes, ManageForeignRoutingPolicyRules=yes)
# make it delete, at start-up and on reload, every route and rule it did not
# configure itself — here that is the harness' default route via uplink0.
# /run/systemd/networkd.conf.d is a standard drop-in directory and lives on the
# sandbox's tmpfs, so nothing outside the sandbox is touched.
if [ "${VOLT_SANDBOX_MANAGE_FOREIGN:-no}" = no ]; then
  printf '%s\n' '[Network]' 'ManageForeignRoutes=no' 'ManageForeignRoutingPolicyRules=no' \
    >/run/systemd/networkd.conf.d/50-volt-sandbox.conf || fail "write networkd.conf drop-in"
fi

# /dev/net/tun is 0600 root here; networkd runs as systemd-network.
mknod -m 0666 /run/systemd/volt-sandbox/tun c 10 200 || fail "mknod tun"
if [ -e /dev/net/tun ]; then
  mount --bind /run/systemd/volt-sandbox/tun /dev/net/tun || fail "bind tun over /dev/net/tun"
fi

dbus_pid=$(dbus-daemon --system --fork --print-pid 2>>"$logdir/dbus.log") || fail "dbus-daemon: $(tail -n 5 "$logdir/dbus.log" | tr '\n' ' ')"
dbus_pid=${dbus_pid//[^0-9]/}
[ -S /run/dbus/system_bus_socket ] || fail "no /run/dbus/system_bus_socket"

# networkd in a nested mount namespace with a read-only /sys (no udev here).
SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${VOLT_NETWORKD_LOG_LEVEL:-debug} \
  unshare -m --propagation slave bash -c 'mount -o remount,ro,bind /sys || { echo "remount /sys ro failed" >&2; exit 97; }; exec /lib/systemd/systemd-networkd' \
  </dev/null >>"$logdir/networkd.log" 2>&1 &
networkd_pid=$!

i=0
while :; do
  if busctl --system call org.freedesktop.network1 /org/freedesktop/network1 org.freedesktop.DBus.Peer Ping >/dev/null 2>&1; then
    break
  fi
  kill -0 "$networkd_pid" 2>/dev/null || fail "systemd-networkd exited: $(tail -n 5 "$logdir/networkd.log" | tr '\n' ' ')"
  i=$((i + 1))
  [ "$i" -ge "$ready_timeout_ds" ] && fail "systemd-networkd did not answer on the bus within $((ready_timeout_ds / 10))s: $(tail -n 5 "$logdir/networkd.log" | tr '\n' ' ')"
  sleep 0.1
done

echo "READY $$ $networkd_pid $dbus_pid"

# Stay until killed; also go when the test process is gone.
while kill -0 "$parent" 2>/dev/null; do
  kill -0 "$networkd_pid" 2>/dev/null || { echo "networkd exited" >&2; break; }
  sleep 1 &
  sleep_pid=$!
  wait "$sleep_pid"
  sleep_pid=
done
stop
exit 0
