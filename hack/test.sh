#!/usr/bin/env bash
# The one test command: README's second quick-start step, and what .ci/run runs.
# Installs what it needs when missing, type-checks, builds, then runs every jest suite and
# prints the plain "N passed, N failed" line from jest's JSON result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/ensure-deps.sh
npx --no-install tsc --noEmit -p tsconfig.json
npm run --silent build
results=$(mktemp)
status=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --json --outputFile="$results" "$@" || status=$?
node hack/jest-summary.mjs "$results"
rm -f "$results"
exit "$status"
