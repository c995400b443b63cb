import { type NftScope, eventConcerns, parseNftMonitorLine } from '../../src/nftables/monitorEvents.js';

// Lines as nftables 1.0.6 printed them for iptables-nft and nft commands (captured on this project's CI image).
describe('parseNftMonitorLine', () => {
  it('reads tables, chains and rules, whoever wrote them', () => {
    expect(parseNftMonitorLine('add table ip nat')).toEqual({ kind: 'table', family: 'ip', table: 'nat' });
    expect(parseNftMonitorLine('delete table ip flannel-ipv4')).toEqual({ kind: 'table', family: 'ip', table: 'flannel-ipv4' });
    expect(parseNftMonitorLine('create chain ip nat WEFT-MASQ-0A000000-8')).toEqual({ kind: 'chain', family: 'ip', table: 'nat', chain: 'WEFT-MASQ-0A000000-8' });
    expect(parseNftMonitorLine('add chain ip nat POSTROUTING { type nat hook postrouting priority srcnat; policy accept; }')).toEqual({
      kind: 'chain',
      family: 'ip',
      table: 'nat',
      chain: 'POSTROUTING',
    });
    expect(parseNftMonitorLine('insert rule ip nat POSTROUTING  counter packets 0 bytes 0 jump WEFT-MASQ-X')).toEqual({ kind: 'rule', family: 'ip', table: 'nat', chain: 'POSTROUTING' });
    expect(parseNftMonitorLine('delete rule ip6 filter WEFT-FWD-X handle 3')).toEqual({ kind: 'rule', family: 'ip6', table: 'filter', chain: 'WEFT-FWD-X' });
    expect(parseNftMonitorLine('add rule ip flannel-ipv4 postrtg ip saddr 10.0.0.0/8 return')).toEqual({ kind: 'rule', family: 'ip', table: 'flannel-ipv4', chain: 'postrtg' });
  });

  it('says events were lost when the monitor reports an overflow', () => {
    expect(parseNftMonitorLine('# ERROR: We lost some netlink events!')).toEqual({ kind: 'lost' });
  });

  it('ignores generation trailers, sets, elements and lines of any other shape', () => {
    for (const line of [
      '# new generation 5 by process 30194 (iptables-nft)',
      'add set inet kube-proxy cluster-ips { type ipv4_addr; }',
      'add element inet kube-proxy cluster-ips { 10.96.0.1 }',
      'delete rule',
      'add chain ip',
      '',
      'something else entirely',
    ]) {
      expect(parseNftMonitorLine(line)).toBeUndefined();
    }
  });
});

describe('eventConcerns', () => {
  const iptables: NftScope[] = [
    { family: 'ip', table: 'nat', chains: ['WEFT-MASQ-X', 'POSTROUTING'] },
    { family: 'ip', table: 'filter', chains: ['WEFT-FWD-X', 'FORWARD'] },
  ];
  const concerns = (line: string, scopes: readonly NftScope[] = iptables): boolean => eventConcerns(parseNftMonitorLine(line)!, scopes);

  it('takes changes to our chains, to the jumps into them and to their tables', () => {
    expect(concerns('delete rule ip nat WEFT-MASQ-X handle 2')).toBe(true);
    expect(concerns('delete rule ip nat POSTROUTING handle 5')).toBe(true);
    expect(concerns('delete chain ip filter WEFT-FWD-X')).toBe(true);
    expect(concerns('delete table ip filter')).toBe(true);
    expect(concerns('# ERROR: We lost some netlink events!')).toBe(true);
  });

  it("leaves other chains, other tables and the other family alone (kube-proxy's churn costs no check)", () => {
    expect(concerns('add rule ip nat KUBE-SERVICES counter jump KUBE-SVC-1')).toBe(false);
    expect(concerns('create chain ip filter KUBE-FORWARD')).toBe(false);
    expect(concerns('delete rule ip nat WEFT-FWD-X handle 2')).toBe(false);
    expect(concerns('delete rule ip6 nat WEFT-MASQ-X handle 2')).toBe(false);
    expect(concerns('delete table ip mangle')).toBe(false);
    expect(concerns('delete rule ip nat WEFT-MASQ-X handle 2', [])).toBe(false);
  });

  it('takes every chain of a table kept whole', () => {
    const table: NftScope[] = [{ family: 'ip', table: 'flannel-ipv4' }];
    expect(concerns('delete rule ip flannel-ipv4 postrtg handle 2', table)).toBe(true);
    expect(concerns('add chain ip flannel-ipv4 extra', table)).toBe(true);
    expect(concerns('delete rule ip6 flannel-ipv4 postrtg handle 2', table)).toBe(false);
  });
});
