#!/usr/bin/env bash
# Install everything volt needs on a fresh Debian 12 machine (root), then build.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  iproute2 nftables iputils-ping procps psmisc util-linux
  systemd dbus            # systemd-networkd + networkctl + busctl for the networkd bridge driver
  hyperfine               # bench/
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: build"
npm run -s build
echo "setup: done ($(node core/bin/run.js --version))"
