#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs unit, kernel and
# end-to-end tests (all kernel work happens in namespaces the tests create).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node -e "require('./build/test/harness').cleanupLeftovers('vt-', { includeOwn: false })" || true
npx ava "$@"
