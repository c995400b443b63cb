import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { type PlanInput, planKernelState } from '../helpers/plan.js';
import { silentLogger } from '../../src/util/log.js';
import { parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';
import { type ReconcileResult, Reconciler } from '../../src/agent/reconciler.js';
import { serializeLeaseAttrs, validatePeerLease } from '../../src/subnet/lease.js';
import { MemoryKernel, UnparsableBatchLine } from '../helpers/memoryKernel.js';
import { failingPeers } from '../../src/agent/peerBackoff.js';
import { DesiredIndex } from '../../src/backend/desiredIndex.js';
import { groupByVtepMac } from '../../src/backend/vxlan/macConflicts.js';
import type { PeerData } from '../../src/backend/registry.js';
import type { PeerLease } from '../../src/subnet/lease.js';
import { parseKernelEvent } from '../../src/kernel/kernelEvents.js';
import { accountedFor } from '../../src/agent/kernelEcho.js';

function cidr(text: string): Ipv4Subnet {
  const parsed = parseIpv4Cidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.subnet;
}

const NETWORK = '10.5.0.0/16';
const OWN_MAC = '02:00:00:00:01:01';

interface InputSpec {
  readonly type: 'vxlan' | 'host-gw';
  /** Peer n holds 10.5.n.0/24; n >= 100 sits off the external link's segment. */
  readonly peers: readonly number[];
  /** Further Backend fields, as in net-conf.json. */
  readonly backend?: Record<string, unknown>;
}

/**
 * The one place these tests build reconciler inputs. Peers arrive as Flannel lease JSON through
 * the lease validator, as they do from a datastore.
 */
function planInput(spec: InputSpec): PlanInput {
  const config = parseNetworkConfig(JSON.stringify({ Network: NETWORK, Backend: { Type: spec.type, ...spec.backend } }));
  const peers = spec.peers.map((n) => {
    const publicIP = n >= 100 ? `172.16.0.${n}` : `192.168.1.${n}`;
    const backendData = spec.type === 'vxlan' ? { VNI: config.backend.type === 'vxlan' ? config.backend.vni : 0, VtepMAC: `02:00:00:00:${n.toString(16).padStart(2, '0')}:02` } : null;
    const validated = validatePeerLease(
      { key: `10.5.${n}.0-24`, value: serializeLeaseAttrs({ publicIP, backendType: spec.type, backendData }) },
      { config, decodePeerData: peerDataDecoder(config.backend), ownSubnet: cidr('10.5.1.0/24') },
    );
    if (!validated.ok) throw new Error(validated.reason);
    return validated.lease;
  });
  return {
    backend: config.backend,
    ownSubnet: cidr('10.5.1.0/24'),
    extLink: { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: cidr('192.168.1.0/24') },
    peers,
    ...(spec.type === 'vxlan' ? { vtepMac: OWN_MAC } : {}),
  };
}

const DEBOUNCE_MS = 50;
const RESYNC_MS = 10_000;
/** The reconciler's fixed pause before it retries a pass that failed. */
const RETRY_MS = 1_000;

interface Harness {
  readonly kernel: MemoryKernel;
  readonly reconciler: Reconciler;
  readonly results: ReconcileResult[];
  readonly errors: Error[];
  input: PlanInput | undefined;
}

let harnesses: Harness[] = [];

function harness(input: PlanInput | undefined, useNexthops = false, random: () => number = () => 0.5): Harness {
  const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'], mtu: 1500 }]);
  const h: Harness = {
    kernel,
    input,
    results: [],
    errors: [],
    reconciler: new Reconciler({
      kernel,
      // As the agent plans: only the peers the reconciler admits (those not held back).
      plan: () => {
        if (!h.input) return undefined;
        const peers = h.reconciler.admitPeers(h.input.peers);
        return { desired: planKernelState({ ...h.input, peers }), peers: peers.length };
      },
      scope: { network: cidr(NETWORK), extLink: 'eth0', useNexthops },
      logger: silentLogger(),
      debounceMs: DEBOUNCE_MS,
      resyncMs: RESYNC_MS,
      random,
    }),
  };
  h.reconciler.on('reconciled', (result: ReconcileResult) => h.results.push(result));
  h.reconciler.on('failed', (err: Error) => h.errors.push(err));
  harnesses.push(h);
  return h;
}

/** Moves fake time on, running every timer and promise callback due on the way. */
async function advance(ms: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(ms);
}

/** Starts the reconciler and lets its first pass program the empty kernel. */
async function converged(h: Harness): Promise<void> {
  h.reconciler.start();
  await advance(DEBOUNCE_MS);
  expect(h.results).toHaveLength(1);
  expect(h.results[0]).toMatchObject({ failed: 0, reasons: ['start'] });
  expect(h.results[0]!.applied).toBeGreaterThan(0);
}

const vxlanThreePeers = (): PlanInput => planInput({ type: 'vxlan', peers: [2, 3, 4] });

beforeEach(() => {
  jest.useFakeTimers();
});

afterEach(() => {
  for (const h of harnesses) {
    h.reconciler.stop();
    expect(h.kernel.unparsable).toEqual([]);
  }
  harnesses = [];
  jest.useRealTimers();
});

describe('MemoryKernel', () => {
  it.each([
    ['vxlan', planInput({ type: 'vxlan', peers: [2, 3, 4] }), false],
    ['vxlan with nexthops', planInput({ type: 'vxlan', peers: [2, 3, 4] }), true],
    ['vxlan with DirectRouting', planInput({ type: 'vxlan', peers: [2, 3, 104], backend: { DirectRouting: true } }), false],
    ['host-gw', planInput({ type: 'host-gw', peers: [2, 3, 104] }), false],
    ['host-gw with nexthops', planInput({ type: 'host-gw', peers: [2, 3] }), true],
  ])('converges for %s: a plan applied and read back leaves an empty plan', async (_name, input, useNexthops) => {
    const h = harness(input, useNexthops);
    await converged(h);
    h.reconciler.trigger('again');
    await advance(DEBOUNCE_MS);
    expect(h.results[1]).toMatchObject({ applied: 0, failed: 0, reasons: ['again'] });
    expect(h.kernel.applies).toBe(1);
  });

  it('holds exactly what a vxlan plan with nexthops asks for', async () => {
    const h = harness(planInput({ type: 'vxlan', peers: [2, 3] }), true);
    await converged(h);
    expect(h.kernel.view('flannel.1')).toEqual({
      device: {
        name: 'flannel.1', kind: 'vxlan', vni: 1, local: '192.168.1.10', port: 8472, link: 'eth0', learning: false, gbp: false,
        mtu: 1450, mac: OWN_MAC, up: true, addresses: ['10.5.1.0/32'],
      },
      routes: [
        { dst: '10.5.2.0/24', nhid: 0x0a050200, gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
        { dst: '10.5.3.0/24', nhid: 0x0a050300, gateway: '10.5.3.0', dev: 'flannel.1', onlink: true },
      ],
      nexthops: [
        { id: 0x0a050200, gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
        { id: 0x0a050300, gateway: '10.5.3.0', dev: 'flannel.1', onlink: true },
      ],
      neighs: [
        { dst: '10.5.2.0', lladdr: '02:00:00:00:02:02', permanent: true },
        { dst: '10.5.3.0', lladdr: '02:00:00:00:03:02', permanent: true },
      ],
      fdb: [
        { mac: '02:00:00:00:02:02', dst: '192.168.1.2', permanent: true },
        { mac: '02:00:00:00:03:02', dst: '192.168.1.3', permanent: true },
      ],
    });
  });

  it('follows peers leaving and arriving, and a device change that needs the device recreated', async () => {
    const h = harness(vxlanThreePeers(), true);
    await converged(h);
    h.input = planInput({ type: 'vxlan', peers: [3, 5] });
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    const afterPeers = h.kernel.view('flannel.1');
    expect(afterPeers.routes.map((r) => r.dst)).toEqual(['10.5.3.0/24', '10.5.5.0/24']);
    expect(afterPeers.fdb.map((f) => f.dst)).toEqual(['192.168.1.3', '192.168.1.5']);
    expect(afterPeers.neighs.map((n) => n.dst)).toEqual(['10.5.3.0', '10.5.5.0']);

    h.input = planInput({ type: 'vxlan', peers: [3, 5], backend: { Port: 4789 } });
    h.reconciler.trigger('config changed');
    await advance(DEBOUNCE_MS);
    expect(h.kernel.linesRun).toContain('link del flannel.1');
    expect(h.kernel.view('flannel.1')).toMatchObject({ device: { port: 4789 }, routes: afterPeers.routes, fdb: afterPeers.fdb, neighs: afterPeers.neighs });
    expect(h.results.map((r) => r.failed)).toEqual([0, 0, 0]);

    h.reconciler.trigger('again');
    await advance(DEBOUNCE_MS);
    expect(h.results[3]).toMatchObject({ applied: 0, failed: 0 });
  });

  it.each([
    ['an unknown verb', { device: [], fdb: [], ip: ['route add 10.5.9.0/24 dev eth0 proto 87'] }],
    ['a trailing word', { device: [], fdb: [], ip: ['route replace 10.5.9.0/24 dev eth0 proto 87 metric 5'] }],
    ['another protocol', { device: [], fdb: [], ip: ['route replace 10.5.9.0/24 dev eth0 proto 4'] }],
    ['host bits in a destination', { device: [], fdb: [], ip: ['route replace 10.5.9.1/24 dev eth0 proto 87'] }],
    ['an FDB line in the ip batch', { device: [], fdb: [], ip: ['fdb replace 02:00:00:00:09:02 dev eth0 dst 192.168.1.9 self permanent'] }],
    ['a route line in the bridge batch', { device: [], fdb: ['route del 10.5.9.0/24 proto 87'], ip: [] }],
  ])('throws on a line outside the diff grammar: %s', async (_name, plan) => {
    const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'] }]);
    await expect(kernel.apply(plan)).rejects.toThrow(UnparsableBatchLine);
    expect(kernel.unparsable).toHaveLength(1);
  });

  it('reports the lines the kernel refuses, by batch line number, and applies the rest', async () => {
    const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'] }]);
    const result = await kernel.apply({
      device: [],
      fdb: [],
      ip: [
        'route replace 10.5.9.0/24 nhid 7 proto 87',
        'route replace 10.5.9.0/24 via 192.168.1.9 dev eth0 proto 87',
        'route replace 10.5.8.0/24 via 10.9.9.9 dev eth0 proto 87',
        'neigh del 10.5.9.0 dev flannel.1',
      ],
    });
    expect(result.applied).toBe(1);
    expect(result.failures.map((f) => [f.line, f.error])).toEqual([
      [1, 'Error: Nexthop id does not exist.'],
      [3, 'Error: Nexthop has invalid gateway.'],
      [4, 'Cannot find device "flannel.1"'],
    ]);
    expect(kernel.view(undefined).routes).toEqual([{ dst: '10.5.9.0/24', gateway: '192.168.1.9', dev: 'eth0', onlink: false }]);
  });
});

describe('Reconciler', () => {
  it('coalesces a burst of triggers within the debounce window into one pass that names every reason', async () => {
    const h = harness(vxlanThreePeers());
    const reasons = Array.from({ length: 20 }, (_, i) => `leases changed ${i}`);
    for (const reason of reasons) {
      h.reconciler.trigger(reason);
      await advance(2);
    }
    await advance(DEBOUNCE_MS);
    expect(h.results).toHaveLength(1);
    expect([...h.results[0]!.reasons].sort()).toEqual([...reasons].sort());
    expect(h.kernel.reads).toBe(1);
    expect(h.kernel.applies).toBe(1);

    await advance(RESYNC_MS - 1);
    expect(h.results).toHaveLength(1);
  });

  it.each(['read', 'apply'] as const)('runs exactly one more pass for any number of triggers during a pass (held at %s)', async (call) => {
    const h = harness(vxlanThreePeers());
    const held = h.kernel.hold(call);
    h.reconciler.trigger('start');
    await advance(DEBOUNCE_MS);
    await held.reached;
    for (let i = 0; i < 5; i++) {
      h.reconciler.trigger(i % 2 === 0 ? 'leases changed' : 'kernel changed');
      await advance(DEBOUNCE_MS);
    }
    expect(h.results).toHaveLength(0);

    held.release();
    await advance(0);
    expect(h.results).toHaveLength(2);
    expect(h.results[0]!.reasons).toEqual(['start']);
    expect(h.results[1]!.reasons).toEqual(['leases changed', 'kernel changed']);
    expect(h.results[1]).toMatchObject({ applied: 0, failed: 0 });
    expect(h.kernel.reads).toBe(2);

    await advance(RESYNC_MS - 1);
    expect(h.results).toHaveLength(2);
  });

  it('retries a batch with refused lines about a second later and applies the remainder', async () => {
    const h = harness(vxlanThreePeers());
    h.kernel.refuseLinesNextApply((line) => line.startsWith('route replace 10.5.3.0/24') || line.startsWith('fdb replace 02:00:00:00:04:02'));
    h.reconciler.trigger('start');
    await advance(DEBOUNCE_MS);
    expect(h.results).toHaveLength(1);
    expect(h.results[0]!.failed).toBe(2);
    const firstApplied = h.results[0]!.applied;

    await advance(RETRY_MS - 1);
    expect(h.results).toHaveLength(1);
    await advance(DEBOUNCE_MS + 1);
    expect(h.results).toHaveLength(2);
    expect(h.results[1]).toMatchObject({ applied: 2, failed: 0, reasons: ['retry after failure'] });
    expect(h.kernel.linesRun.slice(firstApplied + 2)).toEqual([
      'fdb replace 02:00:00:00:04:02 dev flannel.1 dst 192.168.1.4 self permanent',
      'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink proto 87',
    ]);
    expect(h.kernel.view('flannel.1').routes.map((r) => r.dst)).toEqual(['10.5.2.0/24', '10.5.3.0/24', '10.5.4.0/24']);

    h.reconciler.trigger('again');
    await advance(DEBOUNCE_MS);
    expect(h.results[2]).toMatchObject({ applied: 0, failed: 0 });
  });

  it.each(['read', 'apply'] as const)('reports a failed pass when %s throws, then retries and recovers', async (call) => {
    const h = harness(vxlanThreePeers());
    h.kernel.throwNext(call, new Error(`netlink ${call} interrupted`));
    h.reconciler.trigger('start');
    await advance(DEBOUNCE_MS);
    expect(h.errors.map((e) => e.message)).toEqual([`netlink ${call} interrupted`]);
    expect(h.results).toHaveLength(0);
    expect(h.reconciler.completedPasses).toBe(0);

    await advance(RETRY_MS + DEBOUNCE_MS);
    expect(h.results).toHaveLength(1);
    expect(h.results[0]).toMatchObject({ failed: 0, reasons: ['retry after failure'] });
    expect(h.results[0]!.applied).toBeGreaterThan(0);
    expect(h.reconciler.completedPasses).toBe(1);
    expect(h.kernel.view('flannel.1').routes).toHaveLength(3);
  });

  it.each(['read', 'apply'] as const)('lets a pass that a stop interrupts (held at %s) finish, and runs nothing after it', async (call) => {
    const h = harness(vxlanThreePeers());
    h.reconciler.start();
    const held = h.kernel.hold(call);
    await advance(DEBOUNCE_MS);
    await held.reached;
    h.reconciler.trigger('leases changed');
    h.reconciler.stop();
    h.reconciler.trigger('kernel changed');
    held.release();
    await advance(0);

    // The pass in flight completes its batch and reports; the trigger that came during it does not run.
    expect(h.results).toHaveLength(1);
    expect(h.results[0]!.reasons).toEqual(['start']);
    expect(h.kernel.view('flannel.1').routes).toHaveLength(3);
    expect(jest.getTimerCount()).toBe(0);
    await advance(2 * RESYNC_MS);
    expect(h.results).toHaveLength(1);
    expect(h.kernel.reads).toBe(1);
  });

  it('does not run a retry that was pending when it stopped', async () => {
    const h = harness(vxlanThreePeers());
    h.kernel.throwNext('read', new Error('netlink dump interrupted'));
    h.reconciler.start();
    await advance(DEBOUNCE_MS);
    expect(h.errors).toHaveLength(1);
    h.reconciler.stop();
    await advance(RETRY_MS + DEBOUNCE_MS);
    expect(h.kernel.reads).toBe(1);
    expect(h.results).toHaveLength(0);
  });

  it.each([
    ['a route deleted', false, 'route del 10.5.3.0/24 proto 87', ['route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink proto 87']],
    ['a route deleted (nexthops)', true, 'route del 10.5.3.0/24 proto 87', ['route replace 10.5.3.0/24 nhid 168100608 proto 87']],
    [
      'a nexthop deleted, taking its route along',
      true,
      'nexthop del id 168100608',
      ['nexthop replace id 168100608 via 10.5.3.0 dev flannel.1 onlink proto 87', 'route replace 10.5.3.0/24 nhid 168100608 proto 87'],
    ],
    ['an FDB entry deleted', false, 'fdb del 02:00:00:00:03:02 dev flannel.1 dst 192.168.1.3 self', ['fdb replace 02:00:00:00:03:02 dev flannel.1 dst 192.168.1.3 self permanent']],
    ['a neighbour rewritten', false, 'neigh replace 10.5.3.0 lladdr 02:00:00:00:66:66 dev flannel.1 nud permanent', ['neigh replace 10.5.3.0 lladdr 02:00:00:00:03:02 dev flannel.1 nud permanent']],
  ])('repairs drift on "kernel changed": %s', async (_name, useNexthops, drift, repair) => {
    const h = harness(vxlanThreePeers(), useNexthops);
    await converged(h);
    const before = h.kernel.view('flannel.1');
    const linesBefore = h.kernel.linesRun.length;

    h.kernel.change(drift);
    expect(h.kernel.view('flannel.1')).not.toEqual(before);
    h.reconciler.trigger('kernel changed');
    await advance(DEBOUNCE_MS);
    expect(h.results[1]).toMatchObject({ applied: repair.length, failed: 0, reasons: ['kernel changed'] });
    expect(h.kernel.linesRun.slice(linesBefore)).toEqual(repair);
    expect(h.kernel.view('flannel.1')).toEqual(before);
  });

  it('rebuilds everything when the device itself is deleted', async () => {
    const h = harness(vxlanThreePeers(), true);
    await converged(h);
    const before = h.kernel.view('flannel.1');
    h.kernel.change('link del flannel.1');
    expect(h.kernel.view('flannel.1')).toMatchObject({ routes: [], nexthops: [], neighs: [], fdb: [] });
    h.reconciler.trigger('kernel changed');
    await advance(DEBOUNCE_MS);
    // Device (add, set, addr) plus an FDB entry, a neighbour, a nexthop and a route per peer.
    expect(h.results[1]).toMatchObject({ applied: 3 + 4 * 3, failed: 0 });
    expect(h.kernel.view('flannel.1')).toEqual(before);
  });

  it('counts no pass while there are no inputs, and runs one once there are', async () => {
    const h = harness(undefined);
    h.reconciler.start();
    await advance(DEBOUNCE_MS);
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.reconciler.completedPasses).toBe(0);
    expect(h.results).toHaveLength(0);
    expect(h.errors).toHaveLength(0);
    expect(h.kernel.reads).toBe(0);

    h.input = vxlanThreePeers();
    h.reconciler.trigger('own lease');
    await advance(DEBOUNCE_MS);
    expect(h.reconciler.completedPasses).toBe(1);
    expect(h.results[0]!.reasons).toEqual(['own lease']);
  });

  it('resyncs on its timer and repairs drift nobody announced', async () => {
    const h = harness(vxlanThreePeers());
    await converged(h);
    h.kernel.change('route del 10.5.2.0/24 proto 87');
    await advance(RESYNC_MS - DEBOUNCE_MS - 1);
    expect(h.results).toHaveLength(1);
    await advance(1 + DEBOUNCE_MS);
    expect(h.results[1]).toMatchObject({ applied: 1, failed: 0, reasons: ['resync'] });
    expect(h.kernel.view('flannel.1').routes.map((r) => r.dst)).toContain('10.5.2.0/24');

    await advance(RESYNC_MS);
    expect(h.results[2]).toMatchObject({ applied: 0, reasons: ['resync'] });
    expect(h.kernel.reads).toBe(3);
  });

  it('draws each resync wait from ±10% of the interval, so agents started together spread out', async () => {
    const draws = [0, 0.999];
    const h = harness(vxlanThreePeers(), false, () => draws.shift() ?? 0.5);
    await converged(h);
    await advance(0.9 * RESYNC_MS - DEBOUNCE_MS - 1);
    expect(h.results).toHaveLength(1);
    await advance(1 + DEBOUNCE_MS);
    expect(h.results[1]).toMatchObject({ reasons: ['resync'] });
    await advance(1.09 * RESYNC_MS);
    expect(h.results).toHaveLength(2);
    await advance(0.01 * RESYNC_MS + DEBOUNCE_MS);
    expect(h.results[2]).toMatchObject({ reasons: ['resync'] });
  });

  it('counts completed passes, empty ones included and failed ones not', async () => {
    const h = harness(vxlanThreePeers());
    expect(h.reconciler.completedPasses).toBe(0);
    await converged(h);
    expect(h.reconciler.completedPasses).toBe(1);
    h.reconciler.trigger('nothing changed');
    await advance(DEBOUNCE_MS);
    expect(h.reconciler.completedPasses).toBe(2);
    h.kernel.throwNext('read', new Error('netlink dump interrupted'));
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.reconciler.completedPasses).toBe(2);
    h.kernel.refuseLinesNextApply(() => true);
    h.kernel.change('route del 10.5.2.0/24 proto 87');
    await advance(RETRY_MS + DEBOUNCE_MS);
    // A pass whose batch had failures still completed: readiness means "reconciled once", not "flawless".
    expect(h.reconciler.completedPasses).toBe(3);
    expect(h.results.map((r) => r.failed)).toEqual([0, 0, 1]);
  });

  it('does not count a pass in which every operation failed as programming the kernel', async () => {
    // What an agent without CAP_NET_ADMIN sees: not even the device can be created, so readiness
    // and NetworkUnavailable must wait; a pass with some lines refused still programmed the rest.
    const h = harness(vxlanThreePeers());
    h.kernel.refuseLinesNextApply(() => true);
    h.reconciler.trigger('start');
    await advance(DEBOUNCE_MS);
    expect(h.results[0]).toMatchObject({ applied: 0 });
    expect(h.results[0]!.failed).toBeGreaterThan(0);
    expect(h.reconciler.completedPasses).toBe(1);
    expect(h.reconciler.programmingPasses).toBe(0);
    h.kernel.refuseLinesNextApply((line) => line.startsWith('route replace 10.5.3.0/24'));
    await advance(RETRY_MS + DEBOUNCE_MS);
    expect(h.results[1]!.failed).toBe(1);
    expect(h.reconciler.programmingPasses).toBe(1);
  });
});

describe('per-peer backoff', () => {
  const routed = (h: Harness) => h.kernel.view(undefined).routes.map((r) => r.dst);

  /** host-gw peer 3's gateway refused on every pass, until its third failure holds it back. */
  async function peerThreeHeldBack(): Promise<Harness> {
    const h = harness(planInput({ type: 'host-gw', peers: [2, 3] }));
    h.kernel.refuseLinesFromNowOn((line) => line.includes('via 192.168.1.3 '));
    h.reconciler.start();
    await advance(DEBOUNCE_MS + 2 * (RETRY_MS + DEBOUNCE_MS));
    expect(h.results.at(-1)!.heldBack).toBe(1);
    return h;
  }

  it('holds back a peer the kernel keeps refusing, retries it ever more rarely, and routes the others', async () => {
    // host-gw peer 3's gateway refused on every pass, as the kernel refuses an unreachable nexthop.
    const h = harness(planInput({ type: 'host-gw', peers: [2, 3] }));
    h.kernel.refuseLinesFromNowOn((line) => line.includes('via 192.168.1.3 '));
    h.reconciler.start();
    await advance(DEBOUNCE_MS);
    expect(h.results[0]).toMatchObject({ failed: 1, heldBack: 0 });
    expect(routed(h)).toEqual(['10.5.2.0/24']);
    // The reconciler's own retries, a second apart, until the third failure holds the peer back.
    await advance(2 * (RETRY_MS + DEBOUNCE_MS));
    expect(h.results.map((r) => r.failed)).toEqual([1, 1, 1]);
    expect(h.results[2]!.heldBack).toBe(1);
    // Then: a trial after 2 s, 4 s, 8 s, 16 s, … instead of a failing pass every second.
    const appliesBefore = h.kernel.applies;
    await advance(60_000);
    const trials = h.kernel.applies - appliesBefore;
    expect(trials).toBeGreaterThanOrEqual(3);
    expect(trials).toBeLessThanOrEqual(5);
    expect(routed(h)).toEqual(['10.5.2.0/24']);
    expect(h.results.at(-1)!.heldBack).toBe(1);
  });

  it('programs the peer at the next trial once the kernel accepts it, and forgets its record', async () => {
    const h = await peerThreeHeldBack();
    h.kernel.refuseLinesFromNowOn();
    await advance(2_000 + DEBOUNCE_MS);
    expect(routed(h)).toEqual(['10.5.2.0/24', '10.5.3.0/24']);
    expect(h.results.at(-1)).toMatchObject({ failed: 0, heldBack: 0 });
  });

  it('starts afresh when the lease changes: a new PublicIP is tried at once', async () => {
    const h = await peerThreeHeldBack();
    const moved = planInput({ type: 'host-gw', peers: [2, 3] });
    const [two, three] = moved.peers;
    h.input = { ...moved, peers: [two!, { ...three!, publicIP: '192.168.1.33' }] };
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ failed: 0, heldBack: 0 });
    expect(routed(h)).toEqual(['10.5.2.0/24', '10.5.3.0/24']);
  });
});

describe('the fast path', () => {
  interface FastHarness extends Harness {
    /** Changes the peers as a datastore would: the new set, and the keys that changed. */
    setPeers(numbers: readonly number[]): void;
  }

  /** The agent's wiring (planes.ts) over a DesiredIndex, with the changed keys handed over by hand. */
  function fastHarness(numbers: readonly number[]): FastHarness {
    const kernel = new MemoryKernel([{ name: 'eth0', addresses: ['192.168.1.10/24'], mtu: 1500 }]);
    let input = planInput({ type: 'vxlan', peers: numbers });
    let changed = new Map<string, PeerLease<PeerData> | undefined>();
    const index = new DesiredIndex({ plan: (peers) => planKernelState({ ...input, peers }), groupOf: groupByVtepMac, counts: () => true });
    const scope = { network: cidr(NETWORK), extLink: 'eth0', useNexthops: true };
    const h: FastHarness = {
      kernel,
      input,
      results: [],
      errors: [],
      reconciler: new Reconciler({
        kernel,
        plan: () => {
          changed = new Map();
          const desired = index.rebuild(h.reconciler.admitPeers(input.peers));
          return { desired, peers: index.peerCount };
        },
        planChanges: () => {
          const step = index.update(changed, scope);
          changed = new Map();
          return step;
        },
        expects: (event) => accountedFor(event, index, { family: 'ipv4', deviceName: 'flannel.1', useNexthops: true }),
        scope,
        logger: silentLogger(),
        debounceMs: DEBOUNCE_MS,
        resyncMs: RESYNC_MS,
      }),
      setPeers(next) {
        const before = new Map(input.peers.map((p) => [p.key, p]));
        input = planInput({ type: 'vxlan', peers: next });
        for (const peer of input.peers) if (JSON.stringify(before.get(peer.key)) !== JSON.stringify(peer)) changed.set(peer.key, peer);
        for (const key of before.keys()) if (!input.peers.some((p) => p.key === key)) changed.set(key, undefined);
      },
    };
    h.reconciler.on('reconciled', (result: ReconcileResult) => h.results.push(result));
    h.reconciler.on('failed', (err: Error) => h.errors.push(err));
    harnesses.push(h);
    return h;
  }

  /** The kernel a full plan of these peers leaves, from an empty kernel. */
  async function fullPlanKernel(numbers: readonly number[]): Promise<ReturnType<MemoryKernel['view']>> {
    const h = harness(planInput({ type: 'vxlan', peers: numbers }), true);
    await converged(h);
    return h.kernel.view('flannel.1');
  }

  it('programs a lease change without reading the kernel, to the state a full pass reaches', async () => {
    const h = fastHarness([2, 3, 4]);
    await converged(h);
    const reads = h.kernel.reads;
    h.setPeers([3, 4, 5]);
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ incremental: true, failed: 0, peers: 3, reasons: ['leases changed'] });
    expect(h.kernel.reads).toBe(reads);
    expect(h.kernel.view('flannel.1')).toEqual(await fullPlanKernel([3, 4, 5]));
  });

  it('ignores the echo of its own writes, and repairs with a full pass what the plan does not account for', async () => {
    const h = fastHarness([2, 3]);
    await converged(h);
    h.reconciler.kernelChanged([parseKernelEvent('10.5.3.0/24 nhid 168100608 via 10.5.3.0 dev flannel.1 proto 87 onlink ')]);
    await advance(DEBOUNCE_MS);
    expect(h.results).toHaveLength(1);

    h.kernel.change('route del 10.5.3.0/24 proto 87');
    h.reconciler.kernelChanged([parseKernelEvent('Deleted 10.5.3.0/24 nhid 168100608 via 10.5.3.0 dev flannel.1 proto 87 onlink ')]);
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ incremental: false, reasons: ['kernel changed'], applied: 1 });
    expect(h.kernel.view('flannel.1')).toEqual(await fullPlanKernel([2, 3]));
  });

  it('makes the pass after a failed operation a full one, which finds and fixes what failed', async () => {
    const h = fastHarness([2]);
    await converged(h);
    h.kernel.refuseLinesNextApply((line) => line.startsWith('route replace 10.5.3.0/24'));
    h.setPeers([2, 3]);
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ incremental: true, failed: 1 });
    // Even a lease change now needs the kernel read: the last plan is not what it holds.
    const reads = h.kernel.reads;
    h.reconciler.trigger('leases changed');
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ incremental: false, failed: 0, applied: 1 });
    expect(h.kernel.reads).toBe(reads + 1);
    expect(h.kernel.view('flannel.1')).toEqual(await fullPlanKernel([2, 3]));
  });

  it('reads the kernel for every other reason: start, resync, a kernel change', async () => {
    const h = fastHarness([2]);
    await converged(h);
    h.setPeers([2, 3]);
    h.reconciler.trigger('leases changed');
    h.reconciler.trigger('resync');
    await advance(DEBOUNCE_MS);
    expect(h.results.at(-1)).toMatchObject({ incremental: false, reasons: ['leases changed', 'resync'] });
    expect(h.kernel.view('flannel.1')).toEqual(await fullPlanKernel([2, 3]));
  });
});

describe('failingPeers', () => {
  const peers = planInput({ type: 'vxlan', peers: [2, 3] }).peers;

  it('charges a route, nexthop or FDB line to the peer it names, and a device line to nobody', () => {
    const failure = (command: string) => ({ line: 1, command, error: 'refused' });
    expect(failingPeers(peers, [failure('route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink proto 87')])).toEqual(new Map([['10.5.3.0-24', 'refused']]));
    expect([...failingPeers(peers, [failure(`nexthop replace id ${cidr('10.5.2.0/24').address} via 10.5.2.0 dev flannel.1 onlink proto 87`)]).keys()]).toEqual(['10.5.2.0-24']);
    expect([...failingPeers(peers, [failure('fdb replace 02:00:00:00:03:02 dev flannel.1 dst 192.168.1.3 self permanent')]).keys()]).toEqual(['10.5.3.0-24']);
    expect(failingPeers(peers, [failure('link set flannel.1 mtu 1450')]).size).toBe(0);
  });
});

