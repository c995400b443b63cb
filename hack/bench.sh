#!/usr/bin/env bash
# `npm run bench`: installs what is missing, builds the agent, runs hack/bench.ts as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root to create network namespaces" >&2
  exit 1
fi
bash hack/ensure-deps.sh
npm run --silent build
exec npx --no-install tsx hack/bench.ts "$@"
