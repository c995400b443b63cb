import { access } from 'node:fs/promises';
import { PreflightError } from '../util/errors.js';

/** Exists only while br_netfilter is loaded (or built in); per network namespace. */
export const BRIDGE_NF_CALL_IPTABLES = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/**
 * Flannel's start-up check (since Kubernetes 1.30 kubeadm no longer makes it): without
 * br_netfilter, traffic between pods on one bridge skips iptables and nftables, so Service
 * traffic from a pod to a pod on the same node breaks. Flannel checks this for every IPv4
 * network, whether its own rules go to iptables or nftables, and refuses to start.
 */
export async function checkBrNetfilter(path = BRIDGE_NF_CALL_IPTABLES): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new PreflightError(
      `br_netfilter is not loaded: ${path} does not exist. Load it (modprobe br_netfilter) and make it permanent (/etc/modules-load.d), then start weft again`,
    );
  }
}
