#!/usr/bin/env bash
# Shared by the demo and the benchmarks: both build network namespaces, so both need root,
# the system packages, npm deps and a fresh build before running their TypeScript script.
#   bash hack/run-tsx-as-root.sh NAME SCRIPT [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 script=$2
shift 2
bash hack/require-node.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "$name: needs root to create network namespaces; run: sudo bash hack/$name.sh" >&2
  exit 1
fi
bash hack/ensure-deps.sh
npm run --silent build
exec npx --no-install tsx "$script" "$@"
