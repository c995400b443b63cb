#!/usr/bin/env bash
# Builds the CNI plugin as one static executable, dist/cni/flannel: the only name the image ships
# and the manifests use. It is Go with the standard library only: it builds offline, and it needs
# nothing on the host.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/cni
bash hack/go.sh build -trimpath -ldflags='-s -w' -o ../dist/cni/flannel .
