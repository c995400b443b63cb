#!/usr/bin/env bash
# Installs the system packages and npm dependencies weft's tests and demo use, only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/require-node.sh

need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v go >/dev/null 2>&1 || need+=(golang-go)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
# The wireguard backend: `wg` configures devices; wireguard-go makes them where the kernel has no module.
command -v wg >/dev/null 2>&1 || need+=(wireguard-tools)
command -v wireguard-go >/dev/null 2>&1 || need+=(wireguard-go)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)

if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-deps: missing packages (${need[*]}); run as root or install them with apt-get" >&2
  else
    echo "ensure-deps: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# The agent refuses to start without br_netfilter, as Flannel does. Some kernels build it in;
# where it is a module, load it (needs kmod's modprobe and root).
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && [ "$(id -u)" -eq 0 ]; then
  command -v modprobe >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends kmod >/dev/null
  modprobe br_netfilter || echo "ensure-deps: br_netfilter could not be loaded; the agent will refuse to start" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ensure-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
