import fc from 'fast-check';
import { ownGroup } from '../../src/backend/backend.js';
import { DesiredIndex } from '../../src/backend/desiredIndex.js';
import { type OwnershipScope, diffKernelState } from '../../src/backend/diff.js';
import { type AgentNetworkConfig, type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { groupByIpv6VtepMac, groupByVtepMac } from '../../src/backend/vxlan/macConflicts.js';
import { planVxlanIpv6 } from '../../src/backend/vxlan/planIpv6.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import { type LeaseValidationContext, type PeerLease, serializeLeaseAttrs } from '../../src/subnet/lease.js';
import { type LeaseEvent, LeaseStore } from '../../src/subnet/leaseStore.js';
import { PeerSet } from '../../src/subnet/peerSet.js';
import { silentLogger } from '../../src/util/log.js';
import { ipv4Cidr, ipv6Cidr } from '../helpers/cidr.js';
import { MemoryKernel } from '../helpers/memoryKernel.js';
import { planKernelState } from '../helpers/plan.js';

/**
 * The fast path's promise: whatever sequence of lease events arrives, and however it is cut into
 * passes, planning only what changed leaves the kernel exactly as a full plan from scratch would.
 * The pools below are small on purpose, so that sequences keep hitting the cases where peers
 * depend on each other: one VtepMAC at two addresses (the newest lease wins), our own VtepMAC,
 * a peer off the segment, a lease of the wrong backend, garbage, and deletes and re-creations.
 */

const OWN_MAC = '02:00:00:00:01:01';
const MACS = ['02:00:00:00:00:0a', '02:00:00:00:00:0b', '02:00:00:00:00:0c', OWN_MAC];
const PUBLIC_IPS = ['192.168.1.11', '192.168.1.12', '192.168.1.13', '172.16.0.5'];
const ext: ExternalLink = {
  name: 'eth0',
  address: '192.168.1.10',
  mtu: 1500,
  subnet: ipv4Cidr('192.168.1.0/24'),
  ipv6: { address: 'fd00::a', subnet: ipv6Cidr('fd00::/64') },
};
const own = ipv4Cidr('10.5.1.0/24');

/** One lease value: a vxlan one from the pools, a host-gw one, or garbage. */
type ValueSpec = { readonly kind: 'vxlan'; readonly ip: number; readonly mac: number } | { readonly kind: 'host-gw'; readonly ip: number } | { readonly kind: 'garbage' };

type Op = { readonly type: 'put'; readonly n: number; readonly value: ValueSpec } | { readonly type: 'delete'; readonly n: number };

const valueSpec: fc.Arbitrary<ValueSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('vxlan' as const), ip: fc.nat(PUBLIC_IPS.length - 1), mac: fc.nat(MACS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('host-gw' as const), ip: fc.nat(PUBLIC_IPS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'garbage' as const }) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('put' as const), n: fc.integer({ min: 2, max: 9 }), value: valueSpec }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('delete' as const), n: fc.integer({ min: 2, max: 9 }) }) },
);
/** Passes: the events that arrive between two passes. */
const passes = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 25 });

function leaseValue(spec: ValueSpec, dualStack: boolean): string {
  if (spec.kind === 'garbage') return '{"PublicIP":';
  const publicIP = PUBLIC_IPS[spec.ip]!;
  if (spec.kind === 'host-gw') return serializeLeaseAttrs({ publicIP, backendType: 'host-gw', backendData: null });
  const backendData = { VNI: 1, VtepMAC: MACS[spec.mac]! };
  return serializeLeaseAttrs({
    publicIP,
    backendType: 'vxlan',
    backendData,
    ...(dualStack ? { publicIPv6: `fd00::${spec.ip + 11}`, backendV6Data: { VNI: 1, VtepMAC: MACS[(spec.mac + 1) % MACS.length]! } } : {}),
  });
}

/** Turns ops into datastore events with increasing revisions, creation revisions as etcd keeps them. */
class EventSource {
  private revision = 10;
  private readonly created = new Map<number, number>();

  constructor(private readonly key: (n: number) => string, private readonly dualStack: boolean) {}

  events(ops: readonly Op[]): LeaseEvent[] {
    return ops.map((o) => {
      const revision = ++this.revision;
      if (o.type === 'delete') {
        this.created.delete(o.n);
        return { type: 'delete', key: this.key(o.n), revision };
      }
      const created = this.created.get(o.n) ?? revision;
      this.created.set(o.n, created);
      return { type: 'put', key: this.key(o.n), value: leaseValue(o.value, this.dualStack), revision, created };
    });
  }
}

interface Variant {
  readonly name: string;
  readonly backend: object;
  readonly useNexthops: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'vxlan', backend: { Type: 'vxlan' }, useNexthops: false },
  { name: 'vxlan with nexthops', backend: { Type: 'vxlan' }, useNexthops: true },
  { name: 'vxlan DirectRouting', backend: { Type: 'vxlan', DirectRouting: true }, useNexthops: true },
  { name: 'host-gw', backend: { Type: 'host-gw' }, useNexthops: false },
];

function validation(config: AgentNetworkConfig): LeaseValidationContext<PeerData> {
  return { config, decodePeerData: peerDataDecoder(config.backend), ownSubnet: own };
}

/** The kernel a full plan from scratch gives: a fresh store, a fresh peer set, an empty kernel. */
async function fromScratch(events: readonly LeaseEvent[], config: AgentNetworkConfig, scope: OwnershipScope): Promise<MemoryKernel> {
  const store = new LeaseStore();
  store.apply(events);
  const peers = new PeerSet(store, validation(config), silentLogger()).peers();
  const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'] }]);
  const desired = planKernelState({ backend: config.backend, ownSubnet: own, extLink: ext, vtepMac: OWN_MAC, peers });
  const result = await kernel.apply(diffKernelState(desired, kernel.view(desired.device?.name, scope.useNexthops), scope));
  expect(result.failures).toEqual([]);
  return kernel;
}

function comparable(peers: readonly PeerLease<PeerData>[]): unknown[] {
  return peers.map((p) => JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

describe('incremental planning', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: any sequence of lease events, planned as it changes, leaves the kernel as a full plan does`, async () => {
      const config = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: variant.backend }));
      const scope: OwnershipScope = { network: config.network, extLink: 'eth0', useNexthops: variant.useNexthops };
      const deviceName = config.backend.type === 'vxlan' ? 'flannel.1' : undefined;
      await fc.assert(
        fc.asyncProperty(passes, async (batches) => {
          const store = new LeaseStore();
          const peerSet = new PeerSet(store, validation(config), silentLogger());
          const changes = peerSet.changes();
          const index = new DesiredIndex({
            plan: (peers) => planKernelState({ backend: config.backend, ownSubnet: own, extLink: ext, vtepMac: OWN_MAC, peers }),
            groupOf: config.backend.type === 'vxlan' ? groupByVtepMac : ownGroup,
            counts: () => true,
          });
          const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'] }]);
          expect(changes.take().reset).toBe(true);
          const desired = index.rebuild(peerSet.peers());
          await kernel.apply(diffKernelState(desired, kernel.view(deviceName, variant.useNexthops), scope));

          const source = new EventSource((n) => `10.5.${n}.0-24`, false);
          const history: LeaseEvent[] = [];
          for (const batch of batches) {
            const events = source.events(batch);
            history.push(...events);
            store.apply(events);
            const taken = changes.take();
            expect(taken.reset).toBe(false);
            const changed = new Map([...taken.keys].map((key) => [key, peerSet.get(key)] as const));
            const step = index.update(changed, scope);
            const result = await kernel.apply(step.plan);
            expect(result.failures).toEqual([]);
            expect(kernel.unparsable).toEqual([]);

            const scratch = await fromScratch(history, config, scope);
            expect(kernel.view(deviceName, variant.useNexthops)).toEqual(scratch.view(deviceName, variant.useNexthops));
            expect(step.peers).toBe(peerSet.peers().length);
            const full = planKernelState({ backend: config.backend, ownSubnet: own, extLink: ext, vtepMac: OWN_MAC, peers: peerSet.peers() });
            expect(sortedSkipped(step.skipped)).toEqual(sortedSkipped(full.skipped));
          }
        }),
        { numRuns: 60 },
      );
    });
  }

  it('dual-stack: the peer set kept key by key equals one built from scratch, claims over both families included', () => {
    const config = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', EnableIPv6: true, IPv6Network: 'fc00::/48', Backend: { Type: 'vxlan' } }));
    // Two spellings per subnet (with and without the IPv6 part), and IPv6 parts shared between
    // IPv4 subnets, so first-claim-wins chains across families.
    const key = (n: number): string => (n % 2 === 0 ? `10.5.${n >> 1}.0-24` : `10.5.${n >> 1}.0-24&fc00:0:0:${(n >> 2) + 1}::-64`);
    fc.assert(
      fc.property(passes, (batches) => {
        const store = new LeaseStore();
        const peerSet = new PeerSet(store, validation(config), silentLogger());
        const changes = peerSet.changes();
        changes.take();
        const index = new DesiredIndex({
          plan: (peers) => planVxlanIpv6({ config: config.backend as never, extLink: ext, vtepMac: OWN_MAC, ownSubnet: ipv6Cidr('fc00:0:0:99::/64'), peers }),
          groupOf: groupByIpv6VtepMac,
          counts: (peer) => peer.ipv6 !== undefined,
        });
        index.rebuild(peerSet.peers());
        const source = new EventSource(key, true);
        const history: LeaseEvent[] = [];
        for (const batch of batches) {
          const events = source.events(batch);
          history.push(...events);
          store.apply(events);
          const changed = new Map([...changes.take().keys].map((k) => [k, peerSet.get(k)] as const));
          const step = index.update(changed, { network: ipv6Cidr('fc00::/48'), extLink: 'eth0', useNexthops: false });
          const scratchStore = new LeaseStore();
          scratchStore.apply(history);
          const scratch = new PeerSet(scratchStore, validation(config), silentLogger()).peers();
          expect(comparable(peerSet.peers())).toEqual(comparable(scratch));
          const full = planVxlanIpv6({ config: config.backend as never, extLink: ext, vtepMac: OWN_MAC, ownSubnet: ipv6Cidr('fc00:0:0:99::/64'), peers: scratch });
          for (const route of full.routes) expect(index.route(route.dst)).toEqual(route);
          for (const n of full.neighs) expect(index.neighbour(n.dst)).toBe(n.lladdr);
          for (const f of full.fdb) expect(index.fdbDestination(f.mac)).toBe(f.dst);
          expect(sortedSkipped(step.skipped)).toEqual(sortedSkipped(full.skipped));
          expect(step.peers).toBe(scratch.filter((p) => p.ipv6).length);
        }
      }),
      { numRuns: 100 },
    );
  });
});

function sortedSkipped(skipped: readonly { key: string; reason: string }[]): string[] {
  return skipped.map((s) => `${s.key}: ${s.reason}`).sort();
}
