import { listedChains, nftScript, planNftables } from '../../src/nftables/rules.js';
import { planIptables } from '../../src/iptables/rules.js';
import { cidr } from '../helpers/cidr.js';

const input = { network: cidr('10.244.0.0/16'), ownSubnet: cidr('10.244.3.0/24'), ipMasq: true, fullyRandom: true, forwardRules: true };

describe('planNftables', () => {
  it("plans Flannel's chains, postrtg (nat, postrouting) and forward (filter, forward), with the iptables rules", () => {
    const [postrtg, forward] = planNftables(input);
    expect(postrtg).toEqual({
      name: 'postrtg',
      declaration: 'type nat hook postrouting priority srcnat;',
      rules: [
        'meta mark & 0x4000 == 0x4000 return',
        'ip saddr 10.244.3.0/24 ip daddr 10.244.0.0/16 return',
        'ip saddr 10.244.0.0/16 ip daddr 10.244.3.0/24 return',
        'ip saddr != 10.244.0.0/16 ip daddr 10.244.3.0/24 return',
        'ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
        'ip saddr != 10.244.0.0/16 ip daddr 10.244.0.0/16 masquerade fully-random',
      ],
    });
    expect(forward).toEqual({
      name: 'forward',
      declaration: 'type filter hook forward priority filter;',
      rules: ['ip saddr 10.244.0.0/16 accept', 'ip daddr 10.244.0.0/16 accept'],
    });
  });

  it('has one rule for every iptables rule, in the same order, whatever the flags', () => {
    for (const flags of [{}, { fullyRandom: false }, { ipMasq: false }, { forwardRules: false }, { ipMasq: false, forwardRules: false }]) {
      const nft = planNftables({ ...input, ...flags });
      const ipt = planIptables({ ...input, ...flags });
      expect(nft.map((p) => p.rules.length)).toEqual(ipt.map((p) => p.rules.length));
      expect(nft.map((p) => p.rules.filter((r) => r.includes('fully-random')).length)).toEqual(
        ipt.map((p) => p.rules.filter((r) => r.includes('--random-fully')).length),
      );
    }
  });

  it('writes every chain in one transaction: table and chains created if missing, each chain flushed and filled', () => {
    const [postrtg, forward] = planNftables({ ...input, fullyRandom: false });
    expect(nftScript([postrtg!, forward!]).split('\n')).toEqual([
      'add table ip flannel-ipv4',
      'add chain ip flannel-ipv4 postrtg { type nat hook postrouting priority srcnat; }',
      'flush chain ip flannel-ipv4 postrtg',
      ...postrtg!.rules.map((r) => `add rule ip flannel-ipv4 postrtg ${r}`),
      'add chain ip flannel-ipv4 forward { type filter hook forward priority filter; }',
      'flush chain ip flannel-ipv4 forward',
      'add rule ip flannel-ipv4 forward ip saddr 10.244.0.0/16 accept',
      'add rule ip flannel-ipv4 forward ip daddr 10.244.0.0/16 accept',
      '',
    ]);
  });

  it('reads the body of each chain from `nft list table`', () => {
    const listing = [
      'table ip flannel-ipv4 {',
      '\tchain postrtg {',
      '\t\ttype nat hook postrouting priority srcnat; policy accept;',
      '\t\tmeta mark & 0x00004000 == 0x00004000 return',
      '\t}',
      '',
      '\tchain forward {',
      '\t\ttype filter hook forward priority filter; policy accept;',
      '\t}',
      '}',
      '',
    ].join('\n');
    expect(listedChains(listing)).toEqual(
      new Map([
        ['postrtg', ['type nat hook postrouting priority srcnat; policy accept;', 'meta mark & 0x00004000 == 0x00004000 return']],
        ['forward', ['type filter hook forward priority filter; policy accept;']],
      ]),
    );
    expect(listedChains('')).toEqual(new Map());
  });
});
