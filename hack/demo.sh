#!/usr/bin/env bash
# README's first quick-start command: a local multi-host weft cluster in network namespaces.
# Needs root (namespaces, veth, VXLAN). Installs missing packages and npm deps, builds, runs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: needs root to create network namespaces; run: sudo bash hack/demo.sh" >&2
  exit 1
fi
bash hack/ensure-deps.sh
npm run --silent build
exec npx --no-install tsx hack/demo.ts "$@"
