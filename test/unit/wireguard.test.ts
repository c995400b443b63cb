import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { DesiredWireguardDevice } from '../../src/backend/desiredState.js';
import { diffKernelState } from '../../src/backend/diff.js';
import { diffWireguardDevice } from '../../src/backend/diffWireguard.js';
import { type PeerData, parseNetworkConfig, peerDataDecoder } from '../../src/backend/registry.js';
import { wireguardPodMtu } from '../../src/backend/wireguard/config.js';
import { loadOrCreatePrivateKey } from '../../src/backend/wireguard/keyFile.js';
import { decodeWireguardKey, generatePrivateKey, isWireguardPublicKey, publicKeyOf } from '../../src/backend/wireguard/keys.js';
import { wireguardLeaseData } from '../../src/backend/wireguard/leaseData.js';
import { planWireguard } from '../../src/backend/wireguard/plan.js';
import { handshakeAge, wireguardDeviceProblems, wireguardPeerChecker } from '../../src/backend/wireguard/status.js';
import type { ActualState } from '../../src/kernel/kernelState.js';
import { type WireguardDeviceState, parseWgDump } from '../../src/kernel/wireguardState.js';
import type { ExternalLink } from '../../src/net/externalInterface.js';
import { type Ipv4Subnet, parseIpv4Cidr } from '../../src/net/ipv4.js';
import { type PeerLease, serializeLeaseAttrs, validatePeerClaim } from '../../src/subnet/lease.js';
import { ConfigError } from '../../src/util/errors.js';
import { Secret } from '../../src/util/secret.js';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

const network = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"wireguard"}}');
const config = network.backend.type === 'wireguard' ? network.backend : undefined!;
const ext: ExternalLink = { name: 'eth0', address: '192.168.1.10', mtu: 1500, subnet: cidr('192.168.1.0/24') };
const decode = peerDataDecoder(network.backend);

const privateKey = new Secret('eHv4MYg2QRXtAt1qJd3BC2v7yTMJcoL6JSsDl7rQcGU=');
const publicKey = publicKeyOf(privateKey);
const KEY_B = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const KEY_C = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';

function peer(subnet: string, publicIP: string, data: unknown): PeerLease<PeerData> {
  const decoded = decode(data);
  if (!decoded.ok) throw new Error(decoded.reason);
  return { key: subnet.replace('/', '-'), subnet: cidr(subnet), publicIP, backendType: 'wireguard', data: decoded.data };
}

const own = cidr('10.5.1.0/24');
const plan = (peers: PeerLease<PeerData>[]) =>
  planWireguard({ config, extLink: ext, network: network.network, privateKey, publicKey, ownSubnet: own, peers });

describe('wireguard config', () => {
  it("takes Flannel's defaults", () => {
    expect(config).toEqual({ type: 'wireguard', listenPort: 51820, listenPortV6: 51821, persistentKeepaliveInterval: 0, mode: 'separate', mtu: 0 });
  });
  it('gives device and pods the underlay MTU (or MTU) minus 80, as Flannel does', () => {
    expect(wireguardPodMtu(config, 1500)).toBe(1420);
    expect(wireguardPodMtu({ ...config, mtu: 9000 }, 1500)).toBe(8920);
  });
  it.each([
    [{ ListenPort: 0 }, 'Backend.ListenPort'],
    [{ ListenPort: 65536 }, 'Backend.ListenPort'],
    [{ ListenPortV6: -1 }, 'Backend.ListenPortV6'],
    [{ Mode: 'both' }, 'Backend.Mode'],
    [{ PersistentKeepaliveInterval: 1.5 }, 'Backend.PersistentKeepaliveInterval'],
    [{ MTU: 600 }, 'Backend.MTU'],
  ])('rejects %j naming the field', (fields, field) => {
    expect(() => parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: { Type: 'wireguard', ...fields } }))).toThrow(field);
  });
  it('keeps a malformed PSK out of the error, and a good one out of logs', () => {
    const bad = 'not-a-key-but-still-a-secret';
    let error: unknown;
    try {
      parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: { Type: 'wireguard', PSK: bad } }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/Backend\.PSK/);
    expect((error as Error).message).not.toContain(bad);
    const withPsk = parseNetworkConfig(JSON.stringify({ Network: '10.5.0.0/16', Backend: { Type: 'wireguard', PSK: KEY_C } }));
    expect(JSON.stringify(withPsk)).not.toContain(KEY_C);
    expect(inspect(withPsk, { depth: 5 })).not.toContain(KEY_C);
  });
});

describe('wireguard lease data', () => {
  // A lease as Flannel writes it (LeaseAttrs with wireguardLeaseAttrs {PublicKey, Port} as BackendData).
  const flannelLease = `{"PublicIP":"192.168.1.3","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${KEY_B}","Port":51820}}`;

  it("round-trips Flannel's lease format", () => {
    const checked = validatePeerClaim('10.5.3.0-24', cidr('10.5.3.0/24'), flannelLease, { config: network, decodePeerData: decode });
    if (!checked.ok) throw new Error(checked.reason);
    expect(checked.lease.data).toEqual({ backend: 'wireguard', publicKey: KEY_B, port: 51820 });
    const data = checked.lease.data.backend === 'wireguard' ? checked.lease.data : undefined!;
    const written = serializeLeaseAttrs({ publicIP: '192.168.1.3', backendType: 'wireguard', backendData: wireguardLeaseData(data.publicKey, data.port ?? 0) });
    expect(written).toBe(flannelLease);
  });
  it('reads a lease from a Flannel that wrote no Port as listening on ours', () => {
    expect(decode({ PublicKey: KEY_B })).toEqual({ ok: true, data: { backend: 'wireguard', publicKey: KEY_B } });
    expect(decode({ publickey: KEY_B, port: 4000 })).toEqual({ ok: true, data: { backend: 'wireguard', publicKey: KEY_B, port: 4000 } });
  });
  it.each([
    [null, /missing/],
    [{ PublicKey: 'abc' }, /PublicKey/],
    [{ PublicKey: `${KEY_B.slice(0, 42)}B=` }, /PublicKey/],
    [{ PublicKey: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, /PublicKey/],
    [{ PublicKey: KEY_B, Port: 65536 }, /Port/],
    [{ PublicKey: KEY_B, Port: -1 }, /Port/],
    [{ PublicKey: KEY_B, Port: '51820' }, /Port/],
  ])('rejects %j', (data, reason) => {
    const result = decode(data);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.reason).toMatch(reason);
  });
});

describe('wireguard keys', () => {
  it('derives the public key `wg pubkey` derives, for a stored and a generated key', () => {
    for (const key of [privateKey, generatePrivateKey()]) {
      expect(publicKeyOf(key)).toBe(execFileSync('wg', ['pubkey'], { input: key.reveal(), encoding: 'utf8' }).trim());
    }
  });
  it('generates clamped keys, as `wg genkey` does', () => {
    const bytes = decodeWireguardKey(generatePrivateKey().reveal())!;
    expect([bytes[0]! & 7, bytes[31]! & 0xc0]).toEqual([0, 0x40]);
    expect(isWireguardPublicKey(publicKey)).toBe(true);
  });
  it('keeps the key file as Flannel does: created once with mode 0400, then reused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-wgkey-'));
    try {
      const path = join(dir, 'sub', 'wgkey');
      const first = await loadOrCreatePrivateKey(path);
      expect(first.created).toBe(true);
      expect((await stat(path)).mode & 0o777).toBe(0o400);
      expect(await readFile(path, 'utf8')).toBe(first.key.reveal());
      const second = await loadOrCreatePrivateKey(path);
      expect([second.created, second.key.reveal()]).toEqual([false, first.key.reveal()]);
      const broken = join(dir, 'broken');
      await writeFile(broken, 'secret-looking garbage');
      await expect(loadOrCreatePrivateKey(broken)).rejects.toThrow(/WireGuard key file: does not hold .*broken/);
      await expect(loadOrCreatePrivateKey(broken)).rejects.not.toThrow(/garbage/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('never shows a secret to logs, JSON or templates', () => {
    const secret = new Secret(KEY_C);
    expect([JSON.stringify({ secret }), inspect({ secret }), `${secret}`].join(' ')).not.toContain(KEY_C);
    expect(secret.reveal()).toBe(KEY_C);
  });
});

describe('wg show dump', () => {
  const dump = [
    [privateKey.reveal(), publicKey, '51820', 'off'].join('\t'),
    [KEY_B, '(none)', '192.168.1.3:51820', '10.5.3.0/24', '1764403200', '1000', '2000', 'off'].join('\t'),
    [KEY_C, KEY_C, '(none)', '(none)', '0', '0', '0', '25'].join('\t'),
  ].join('\n');

  it('reads the device and its peers, and drops the private key', () => {
    const state = parseWgDump(`${dump}\n`)!;
    expect(JSON.stringify(state)).not.toContain(privateKey.reveal());
    expect(state).toMatchObject({ publicKey, listenPort: 51820 });
    expect(state.peers[0]).toEqual({ publicKey: KEY_B, endpoint: '192.168.1.3:51820', allowedIps: ['10.5.3.0/24'], latestHandshake: 1764403200, rxBytes: 1000, txBytes: 2000, keepalive: 0 });
    expect(state.peers[1]).toMatchObject({ publicKey: KEY_C, allowedIps: [], latestHandshake: 0, keepalive: 25 });
    expect(state.peers[1]!.presharedKey?.reveal()).toBe(KEY_C);
  });
});

describe('wireguard plan', () => {
  it('plans a peer and an onlink route per subnet, the endpoint on the lease’s port', () => {
    const desired = plan([peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B, Port: 51999 })]);
    expect(desired.wireguard![0]).toMatchObject({ name: 'flannel-wg', mtu: 1420, address: '10.5.1.0/32', listenPort: 51820, publicKey });
    expect(desired.wireguard![0]!.peers).toEqual([{ publicKey: KEY_B, endpoint: '192.168.1.3:51999', allowedIps: ['10.5.3.0/24'] }]);
    expect(desired.routes).toEqual([{ dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel-wg', onlink: true, nexthopId: cidr('10.5.3.0/24').address }]);
  });
  it('skips a duplicate key, our own key and an endpoint inside the pod network, saying why', () => {
    const desired = plan([
      peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B }),
      peer('10.5.4.0/24', '192.168.1.4', { PublicKey: KEY_B }),
      peer('10.5.5.0/24', '192.168.1.5', { PublicKey: publicKey }),
      peer('10.5.6.0/24', '10.5.200.1', { PublicKey: KEY_C }),
    ]);
    expect(desired.wireguard![0]!.peers.map((p) => p.publicKey)).toEqual([KEY_B]);
    expect(desired.skipped.map((s) => [s.key, s.reason])).toEqual([
      ['10.5.4.0-24', `PublicKey ${KEY_B} is already used by 10.5.3.0-24`],
      ['10.5.5.0-24', `PublicKey ${publicKey} is this host's own`],
      ['10.5.6.0-24', 'endpoint 10.5.200.1 lies inside the pod network 10.5.0.0/16'],
    ]);
  });
});

describe('wireguard diff', () => {
  const want: DesiredWireguardDevice = plan([peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B })]).wireguard![0]!;
  const converged: WireguardDeviceState = {
    name: 'flannel-wg',
    kind: 'tun',
    mtu: 1420,
    up: true,
    addresses: ['10.5.1.0/32'],
    config: { publicKey, listenPort: 51820, peers: [{ publicKey: KEY_B, endpoint: '192.168.1.3:51820', allowedIps: ['10.5.3.0/24'], latestHandshake: 0, rxBytes: 0, txBytes: 0, keepalive: 0 }] },
  };

  it('does nothing on a converged device', () => {
    expect(diffWireguardDevice(want, converged)).toEqual({ name: 'flannel-wg', recreate: false, create: false, link: [] });
  });
  it('creates a missing device and configures it in one syncconf, key never in the plan’s JSON', () => {
    const step = diffWireguardDevice(want, undefined);
    expect(step).toMatchObject({ recreate: false, create: true, link: ['link set flannel-wg mtu 1420 up', 'addr replace 10.5.1.0/32 dev flannel-wg'] });
    expect(step.config!.reveal()).toBe(
      [
        '[Interface]',
        `PrivateKey = ${privateKey.reveal()}`,
        'ListenPort = 51820',
        '',
        '[Peer]',
        `PublicKey = ${KEY_B}`,
        'PresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        'Endpoint = 192.168.1.3:51820',
        'AllowedIPs = 10.5.3.0/24',
        'PersistentKeepalive = 0',
        '',
      ].join('\n'),
    );
    expect(JSON.stringify(step)).not.toContain(privateKey.reveal());
  });
  it('recreates a device `wg` cannot reach (its wireguard-go died) or of another kind', () => {
    const { config: _dropped, ...unreachable } = converged;
    expect(diffWireguardDevice(want, unreachable)).toMatchObject({ recreate: true, create: true });
    expect(diffWireguardDevice(want, { ...converged, kind: 'dummy' })).toMatchObject({ recreate: true, create: true });
  });
  it.each([
    ['a removed peer', { peers: [] }],
    ['a moved endpoint', { peers: [{ ...converged.config!.peers[0]!, endpoint: '192.168.1.9:51820' }] }],
    ['a stranger', { peers: [...converged.config!.peers, { ...converged.config!.peers[0]!, publicKey: KEY_C }] }],
    ['another key', { publicKey: KEY_C }],
    ['another port', { listenPort: 4000 }],
  ])('reapplies the config after %s', (_what, change) => {
    const step = diffWireguardDevice(want, { ...converged, config: { ...converged.config!, ...change } });
    expect(step.config).toBeDefined();
    expect(step.link).toEqual([]);
  });
  it('fixes MTU, state and addresses in place', () => {
    expect(diffWireguardDevice(want, { ...converged, mtu: 1300, up: false, addresses: ['10.5.9.0/32'] }).link).toEqual([
      'link set flannel-wg mtu 1420 up',
      'addr replace 10.5.1.0/32 dev flannel-wg',
      'addr del 10.5.9.0/32 dev flannel-wg',
    ]);
  });
  it('owns routes on flannel-wg: a stale one goes, and a new device gets its routes again', () => {
    const scope = { network: cidr('10.5.0.0/16'), extLink: 'eth0', useNexthops: false };
    const desired = plan([peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B })]);
    const routes = [
      { dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel-wg', onlink: true },
      { dst: '10.5.7.0/24', gateway: '10.5.7.0', dev: 'flannel-wg', onlink: true },
    ];
    const actual: ActualState = { routes, nexthops: [], neighs: [], fdb: [], wireguard: [converged] };
    expect(diffKernelState(desired, actual, scope).ip).toEqual(['route del 10.5.7.0/24 proto 87']);
    const gone = diffKernelState(desired, { ...actual, wireguard: [] }, scope);
    expect(gone.wireguard![0]!.create).toBe(true);
    expect(gone.ip).toEqual(['route replace 10.5.3.0/24 via 10.5.3.0 dev flannel-wg onlink proto 87']);
  });
});

describe('wireguard status', () => {
  const desired = plan([peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B }), peer('10.5.4.0/24', '192.168.1.4', { PublicKey: KEY_C })]);
  const device: WireguardDeviceState = {
    name: 'flannel-wg',
    kind: 'tun',
    mtu: 1420,
    up: true,
    addresses: ['10.5.1.0/32'],
    config: { publicKey, listenPort: 51820, peers: [{ publicKey: KEY_B, endpoint: '192.168.1.3:51820', allowedIps: ['10.5.3.0/24'], latestHandshake: 1000, rxBytes: 0, txBytes: 0, keepalive: 0 }] },
  };
  const actual: ActualState = { routes: [], nexthops: [], neighs: [], fdb: [], wireguard: [device] };

  it('shows the latest handshake per peer and what the device lacks', () => {
    const check = wireguardPeerChecker(desired, actual, 1042);
    expect(check(peer('10.5.3.0/24', '192.168.1.3', { PublicKey: KEY_B }), undefined)).toEqual({ column: '42s ago', problems: [] });
    expect(check(peer('10.5.4.0/24', '192.168.1.4', { PublicKey: KEY_C }), undefined)).toEqual({ column: 'never', problems: ['WireGuard peer missing'] });
    expect(handshakeAge(0, 1042)).toBe('never');
  });
  it('reports device problems', () => {
    expect(wireguardDeviceProblems(desired, actual)).toEqual([]);
    expect(wireguardDeviceProblems(desired, { ...actual, wireguard: [] })).toEqual(['device missing']);
    const { config: _dropped, ...unreachable } = device;
    expect(wireguardDeviceProblems(desired, { ...actual, wireguard: [{ ...unreachable, mtu: 1400 }] })).toEqual([
      '`wg` cannot reach the device (no WireGuard module device, no wireguard-go serving it)',
      'MTU 1400, want 1420',
    ]);
  });
});
