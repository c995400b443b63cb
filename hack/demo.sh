#!/usr/bin/env bash
# README's first quick-start command: a local multi-host weft cluster in network namespaces.
exec bash "$(dirname "$0")/run-tsx-as-root.sh" demo hack/demo.ts "$@"
