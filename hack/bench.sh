#!/usr/bin/env bash
# `npm run bench`: every benchmark scenario; writes docs/benchmarks.md (see hack/bench.ts).
exec bash "$(dirname "$0")/run-tsx-as-root.sh" bench hack/bench.ts "$@"
