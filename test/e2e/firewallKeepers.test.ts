import { jest, expect, it, afterAll, beforeAll } from '@jest/globals';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { type Host, NetnsCluster, inNs } from '../helpers/netnsCluster.js';
import { waitFor } from '../helpers/waitFor.js';

jest.setTimeout(120_000);

/**
 * How the iptables keeper notices drift: on the nft backend the kernel announces every change
 * (`nft monitor`), so repair must not wait for the keeper's own check, here an hour away; on
 * iptables-legacy nothing is announced and the keeper polls every --iptables-resync seconds.
 */
describeAsRoot('firewall keepers: announced changes and polling', () => {
  let cluster: NetnsCluster;
  let nftHost: Host;
  let legacyHost: Host;

  const save = (host: Host, backend: 'nft' | 'legacy'): string => inNs(host.ns, `iptables-${backend}-save`, []);
  const rulesIn = (host: Host, backend: 'nft' | 'legacy', chain: string): number =>
    save(host, backend).split('\n').filter((l) => l.startsWith(`-A ${chain} `)).length;
  const chainName = (host: Host, backend: 'nft' | 'legacy', kind: 'MASQ' | 'FWD'): string => new RegExp(`:(WEFT-${kind}-\\S+)`).exec(save(host, backend))?.[1] ?? '';
  const repairs = async (host: Host): Promise<number> => ((await cluster.agentLog(host)).match(/iptables rules were changed by someone else; restored/g) ?? []).length;

  beforeAll(async () => {
    cluster = await NetnsCluster.create([2]);
    [nftHost, legacyHost] = cluster.hosts as [Host, Host];
    await cluster.writeNetworkConfig('/weft/primary', { Network: '10.83.0.0/16', Backend: { Type: 'vxlan' } });
    // A host whose other rules are in iptables-legacy, as where kube-proxy runs iptables-legacy:
    // the keeper follows them there.
    inNs(legacyHost.ns, 'iptables-legacy', ['-N', 'LEGACY-NODE']);
    inNs(legacyHost.ns, 'iptables-legacy', ['-A', 'LEGACY-NODE', '-j', 'RETURN']);
    cluster.startAgent(nftHost, 'primary', ['--ip-masq', '--iptables-resync', '3600']);
    cluster.startAgent(legacyHost, 'primary', ['--ip-masq', '--iptables-resync', '1']);
    await waitFor(() => rulesIn(nftHost, 'nft', chainName(nftHost, 'nft', 'MASQ')) === 6, 15_000, () => save(nftHost, 'nft'));
    await waitFor(() => rulesIn(legacyHost, 'legacy', chainName(legacyHost, 'legacy', 'MASQ')) === 6, 15_000, () => save(legacyHost, 'legacy'));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('repairs flushed chains and a deleted jump through nft monitor, long before its own next check', async () => {
    const masq = chainName(nftHost, 'nft', 'MASQ');
    const fwd = chainName(nftHost, 'nft', 'FWD');
    const jump = save(nftHost, 'nft').split('\n').find((l) => l.startsWith('-A POSTROUTING '))!;
    expect(jump).toMatch(new RegExp(`-j ${masq}$`));
    const before = await repairs(nftHost);
    const flushed = Date.now();
    inNs(nftHost.ns, 'iptables-nft', ['-t', 'nat', '-F', masq]);
    inNs(nftHost.ns, 'iptables-nft', ['-F', fwd]);
    // The keeper can restore the chains before anything here looks at them empty; its log line
    // is the evidence it saw the flush.
    await waitFor(async () => rulesIn(nftHost, 'nft', masq) === 6 && rulesIn(nftHost, 'nft', fwd) === 2 && (await repairs(nftHost)) > before, 3_000, () => save(nftHost, 'nft'));
    process.stderr.write(`nft backend: flushed chains restored ${Date.now() - flushed} ms after the flush (poll period 3600 s)\n`);
    const afterFlush = await repairs(nftHost);
    inNs(nftHost.ns, 'iptables-nft', ['-t', 'nat', '-D', 'POSTROUTING', '1']);
    await waitFor(async () => (await repairs(nftHost)) > afterFlush && save(nftHost, 'nft').includes(jump), 3_000, () => save(nftHost, 'nft'));
  });

  it('keeps its chains in iptables-legacy, where nothing is announced, by checking every --iptables-resync seconds', async () => {
    expect(save(legacyHost, 'nft')).not.toContain('WEFT-');
    const masq = chainName(legacyHost, 'legacy', 'MASQ');
    const before = await repairs(legacyHost);
    inNs(legacyHost.ns, 'iptables-legacy', ['-t', 'nat', '-F', masq]);
    await waitFor(async () => rulesIn(legacyHost, 'legacy', masq) === 6 && (await repairs(legacyHost)) > before, 5_000, () => save(legacyHost, 'legacy'));
  });
});
