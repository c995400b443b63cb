#!/usr/bin/env bash
# Runs go in cni/ the way weft builds and tests its CNI plugin: static (no cgo), with this
# machine's toolchain only (never a download), and with a build cache even where CI runs
# without HOME.
set -euo pipefail
cd "$(dirname "$0")/../cni"
[ -n "${HOME:-}" ] || export GOCACHE=/tmp/weft-go-build
CGO_ENABLED=0 GOTOOLCHAIN=local exec go "$@"
