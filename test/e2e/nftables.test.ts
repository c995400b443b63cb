import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, type Pod, inNs, tryRun } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(180_000);

const PREFIX = '/weft/primary';
const NETWORK = '10.81.0.0/16';

/** EnableNFTables: true: the same masquerade and forward rules, in Flannel's nftables table. */
describeAsRoot('native nftables (EnableNFTables)', () => {
  let cluster: NetnsCluster;
  let pods: Pod[];
  let outside: { ns: string; ip: string };

  const table = (host: Host): string => {
    const listing = tryRun('ip', ['netns', 'exec', host.ns, 'nft', 'list', 'table', 'ip', 'flannel-ipv4']);
    return listing.ok ? listing.output : '';
  };
  const chainRules = (host: Host, chain: string): string[] => {
    const body = new RegExp(`chain ${chain} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(table(host))?.[1] ?? '';
    return body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('type '));
  };
  // An hour between the keeper's own checks: a repair below comes from nft monitor's announcement.
  const agentArgs = ['--ip-masq', '--iptables-resync', '3600'];

  beforeAll(async () => {
    cluster = await NetnsCluster.create([2]);
    outside = cluster.addOutsideHost();
    // The first host ran weft in iptables mode before: its chains must give way to nftables.
    await cluster.writeNetworkConfig(PREFIX, { Network: NETWORK, Backend: { Type: 'vxlan' } });
    const first = cluster.hosts[0]!;
    cluster.startAgent(first, 'primary', agentArgs);
    await waitFor(() => inNs(first.ns, 'iptables-save', []).includes(':WEFT-MASQ-'), 10_000, () => 'no iptables chains in iptables mode');
    await cluster.stopAgent(first);
    await cluster.writeNetworkConfig(PREFIX, { Network: NETWORK, Backend: { Type: 'vxlan' }, EnableNFTables: true });
    for (const host of cluster.hosts) cluster.startAgent(host, 'primary', agentArgs);
    pods = [];
    for (const host of cluster.hosts) pods.push(await cluster.addPod(host));
    await waitFor(() => cluster.hosts.every((h) => chainRules(h, 'postrtg').length === 6 && chainRules(h, 'forward').length === 2), 10_000, () => table(cluster.hosts[0]!));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("keeps the rules in table ip flannel-ipv4, chains postrtg and forward, as Flannel names them", async () => {
    const host = cluster.hosts[0]!;
    const own = (await cluster.readSubnetEnv(host))!.get('FLANNEL_SUBNET')!.replace(/\.1\//, '.0/');
    expect(table(host)).toContain('type nat hook postrouting priority srcnat; policy accept;');
    expect(table(host)).toContain('type filter hook forward priority filter; policy accept;');
    expect(chainRules(host, 'postrtg')).toEqual([
      'meta mark & 0x00004000 == 0x00004000 return',
      `ip saddr ${own} ip daddr ${NETWORK} return`,
      `ip saddr ${NETWORK} ip daddr ${own} return`,
      `ip saddr != ${NETWORK} ip daddr ${own} return`,
      `ip saddr ${NETWORK} ip daddr != 224.0.0.0/4 masquerade fully-random`,
      `ip saddr != ${NETWORK} ip daddr ${NETWORK} masquerade fully-random`,
    ]);
    expect(chainRules(host, 'forward')).toEqual([`ip saddr ${NETWORK} accept`, `ip daddr ${NETWORK} accept`]);
  });

  it('removed the iptables chains of the earlier iptables-mode run once the nftables rules were in place', () => {
    for (const host of cluster.hosts) expect(inNs(host.ns, 'iptables-save', [])).not.toContain('WEFT-');
  });

  it('masquerades exactly as in iptables mode: pods leaving the network, not pod to pod', async () => {
    expect(await cluster.tcpSource(pods[0]!, outside)).toBe(cluster.hosts[0]!.ip);
    expect(await cluster.tcpSource(pods[1]!, outside)).toBe(cluster.hosts[1]!.ip);
    expect(await cluster.tcpSource(pods[0]!, pods[1]!)).toBe(pods[0]!.ip);
  });

  it('restores a flushed chain and a deleted table at once, as nft monitor announces the change', async () => {
    const host = cluster.hosts[0]!;
    const repairs = async (): Promise<number> => ((await cluster.agentLog(host)).match(/nftables rules were changed by someone else; restored/g) ?? []).length;
    const before = await repairs();
    // The keeper may put the rules back before anything here can look at the empty chain; the
    // repair log line is the evidence that it saw the flush.
    inNs(host.ns, 'nft', ['flush', 'chain', 'ip', 'flannel-ipv4', 'postrtg']);
    await waitFor(async () => chainRules(host, 'postrtg').length === 6 && (await repairs()) > before, 3_000, () => table(host));
    inNs(host.ns, 'nft', ['delete', 'table', 'ip', 'flannel-ipv4']);
    await waitFor(() => chainRules(host, 'postrtg').length === 6 && chainRules(host, 'forward').length === 2, 3_000, () => table(host));
    expect(await cluster.tcpSource(pods[0]!, outside)).toBe(host.ip);
    expect(await repairs()).toBeGreaterThanOrEqual(before + 2);
  });
});
