#!/usr/bin/env bash
# Try weft on a local kind cluster: create it, build and load the image, apply the manifests and
# check pod-to-pod traffic across nodes. With --multus, also install Multus and the secondary
# network and check that a pod gets its second interface.
#
# Needs: docker (a running engine), kind, kubectl; for --multus, network access to fetch Multus.
# It cannot run where there is no container engine (as in weft's CI).
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=weft
image=weft:0.1.0
multus=false
for arg in "$@"; do
  case "$arg" in
    --multus) multus=true ;;
    --name=*) cluster=${arg#--name=} ;;
    *) echo "usage: $0 [--multus] [--name=CLUSTER]" >&2; exit 2 ;;
  esac
done

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "kind.sh: $tool is required" >&2; exit 1; }
done

if ! kind get clusters | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --config hack/kind/cluster.yaml
fi
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"
kubectl apply -f manifests/weft.yml
kubectl -n weft-system rollout status daemonset/weft --timeout=180s
kubectl wait --for=condition=Ready nodes --all --timeout=180s

# Two pods on two different worker nodes, then a ping between them.
workers=$(kubectl get nodes -o jsonpath='{.items[?(@.metadata.name!="'"$cluster"'-control-plane")].metadata.name}')
read -r first second _ <<<"$workers"
for pair in "a:$first" "b:$second"; do
  name=${pair%%:*} node=${pair#*:}
  kubectl run "weft-check-$name" --image=busybox:1.36 --restart=Never \
    --overrides='{"spec":{"nodeName":"'"$node"'"}}' -- sleep 3600
done
kubectl wait --for=condition=Ready pod/weft-check-a pod/weft-check-b --timeout=120s
target=$(kubectl get pod weft-check-b -o jsonpath='{.status.podIP}')
kubectl exec weft-check-a -- ping -c 3 -W 2 "$target"
echo "kind.sh: pods on $first and $second reach each other over weft"

if [ "$multus" = true ]; then
  kubectl apply -f https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/master/deployments/multus-daemonset-thick.yml
  kubectl -n kube-system rollout status daemonset/kube-multus-ds --timeout=180s
  kubectl apply -f manifests/secondary/weft2.yml
  kubectl -n weft-system rollout status daemonset/weft2 --timeout=180s
  kubectl run weft-check-multus --image=busybox:1.36 --restart=Never \
    --annotations=k8s.v1.cni.cncf.io/networks=weft2 -- sleep 3600
  kubectl wait --for=condition=Ready pod/weft-check-multus --timeout=120s
  kubectl exec weft-check-multus -- ip addr show net1
  echo "kind.sh: the secondary network attached net1"
fi
kubectl delete pod weft-check-a weft-check-b --ignore-not-found
echo "kind.sh: done; delete the cluster with: kind delete cluster --name $cluster"
