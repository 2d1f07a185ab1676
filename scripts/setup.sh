#!/usr/bin/env bash
# Install everything volt needs on a fresh Debian 12 machine (root), then build.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  iproute2 nftables iputils-ping procps psmisc util-linux
  systemd dbus systemd-container   # systemd-networkd, networkctl, busctl; systemd-nspawn
  qemu-system-x86 busybox-static cpio # VMs and the test guests' initramfs
  dnsmasq-base aardvark-dns dnsutils dnsperf  # DNS peers and clients (tests, bench/dns)
  pebble nginx-light wrk openssl      # ingress: ACME test server, proxy peer, load, test certificates
  conntrack                           # flush stale UDP conntrack entries when a port forward changes
  containernetworking-plugins netavark iperf3 hyperfine  # peers and tools for bench/
  openvswitch-switch                  # examples/ovs (test/e2e/145): the driver runs its own daemons per sandbox
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages with services (nginx, dnsmasq, openvswitch-switch…) must not start them on this machine:
  # tests start their own copies inside sandbox namespaces.
  guard=/usr/sbin/policy-rc.d
  own_guard=no
  if [ ! -e "$guard" ]; then printf '#!/bin/sh\nexit 101\n' > "$guard"; chmod +x "$guard"; own_guard=yes; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$own_guard" = yes ] && rm -f "$guard"
fi

# A guest kernel for test VMs, unpacked from Debian's package (not installed:
# installing a kernel image runs boot-loader and initramfs hooks this host does not need).
KERNEL_DIR=${VOLT_TEST_KERNEL_DIR:-/var/cache/volt-test/kernel}
if ! ls "$KERNEL_DIR"/boot/vmlinuz-* >/dev/null 2>&1; then
  echo "setup: fetching a guest kernel (linux-image-amd64) into $KERNEL_DIR"
  tmp=$(mktemp -d)
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  (cd "$tmp" && apt-get download -qq "$pkg")
  mkdir -p "$KERNEL_DIR"
  dpkg-deb -x "$tmp"/*.deb "$KERNEL_DIR"
  rm -rf "$tmp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: build"
npm run -s build
echo "setup: done ($(node core/bin/run.js --version))"
