#!/usr/bin/env bash
# Run first by every entry script (ensure-deps.sh, and through it test.sh, demo.sh and bench.sh):
# Node.js at the version package.json's "engines" names is the one prerequisite the scripts do
# not install, and Debian's own nodejs package is older, so say so before anything else fails.
set -euo pipefail
cd "$(dirname "$0")/.."
required=$(sed -n 's/^ *"node": *">=\([0-9.]*\)".*/\1/p' package.json)
install_hint="install Node.js $required or newer from https://nodejs.org (Debian's own nodejs package is older)"
if ! command -v node >/dev/null 2>&1; then
  echo "weft: no node on PATH; $install_hint" >&2
  exit 1
fi
have=$(node -p 'process.versions.node')
if [ "$(printf '%s\n%s\n' "$required" "$have" | sort -V | head -n 1)" != "$required" ]; then
  echo "weft: Node.js $have is too old; $install_hint" >&2
  exit 1
fi
