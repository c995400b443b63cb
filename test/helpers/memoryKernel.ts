import type { ApplyResult, KernelPort } from '../../src/kernel/kernelPort.js';
import {
  type ActualState,
  type KernelFdbEntry,
  type KernelNeigh,
  type KernelNexthop,
  type KernelRoute,
  type VxlanDeviceState,
  WEFT_ROUTE_PROTOCOL,
} from '../../src/kernel/kernelState.js';
import { ipv4ToNumber, maskOf, parseIpv4, parseIpv4Cidr } from '../../src/net/ipv4.js';

// Taken from the port rather than named, so this kernel follows the port wherever the plan type lives.
type KernelPlan = Parameters<KernelPort['apply']>[0];
type BatchFailure = ApplyResult['failures'][number];
type Tool = 'ip' | 'bridge';
/** One parsed line's effect on the model; throws KernelRefusal where the kernel would refuse it. */
type Effect = () => void;

interface Refusal {
  readonly match: (line: string) => boolean;
  readonly error: string;
}

/** A batch line outside the grammar the diff emits: a bug in the diff or in this model, never a kernel error. */
export class UnparsableBatchLine extends Error {
  override readonly name = 'UnparsableBatchLine';
}

/** What the kernel answers to one line it understood but refuses; reported like `ip -batch -force` does. */
class KernelRefusal extends Error {}

/** A call held at its start: `reached` resolves when it arrives, and it goes on after `release()`. */
export interface HeldCall {
  readonly reached: Promise<void>;
  release(): void;
}

/** A link that exists before weft runs, such as the external interface, with its addresses as "a.b.c.d/len". */
export interface PresetLink {
  readonly name: string;
  readonly addresses: readonly string[];
  readonly mtu?: number;
}

interface Link {
  readonly name: string;
  readonly kind: string;
  vni?: number;
  local?: string;
  port?: number;
  lower?: string;
  learning: boolean;
  gbp: boolean;
  mtu: number;
  mac: string;
  up: boolean;
  addresses: string[];
}

/** A route of the main table at metric 0, keyed by destination as the kernel keys `route replace`. */
interface Route {
  readonly dst: string;
  readonly nhid?: number;
  readonly gateway?: string;
  readonly dev?: string;
  readonly onlink: boolean;
}

interface Neigh extends KernelNeigh {
  readonly dev: string;
}

interface FdbEntry extends KernelFdbEntry {
  readonly dev: string;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const UINT = /^(0|[1-9]\d*)$/;
/** IFNAMSIZ leaves 15 characters for an interface name. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** A cursor over one line's words; every word must be consumed, or the line is not understood. */
class Words {
  private at = 0;
  private readonly words: readonly string[];

  constructor(private readonly line: string) {
    this.words = line.trim().split(/\s+/);
  }

  peek(): string | undefined {
    return this.words[this.at];
  }

  word(what: string, valid: (word: string) => boolean = () => true): string {
    const word = this.words[this.at];
    if (word === undefined || !valid(word)) throw this.notUnderstood(`expected ${what} at word ${this.at + 1}`);
    this.at++;
    return word;
  }

  keyword(expected: string): void {
    this.word(`"${expected}"`, (w) => w === expected);
  }

  optional(keyword: string): boolean {
    if (this.words[this.at] !== keyword) return false;
    this.at++;
    return true;
  }

  ipv4(): string {
    return this.word('an IPv4 address', (w) => parseIpv4(w) !== undefined);
  }

  /** A network in CIDR notation, host bits clear, as the kernel demands of a route destination. */
  network(): string {
    return this.word('a network a.b.c.d/len', (w) => parseIpv4Cidr(w).ok);
  }

  /** An interface address, which may carry host bits. */
  address(): string {
    return this.word('an address a.b.c.d/len', (w) => {
      const [ip, len] = w.split('/');
      return ip !== undefined && parseIpv4(ip) !== undefined && len !== undefined && UINT.test(len) && Number(len) <= 32;
    });
  }

  mac(): string {
    return this.word('a MAC address', (w) => MAC.test(w.toLowerCase())).toLowerCase();
  }

  uint(what: string): number {
    return Number(this.word(what, (w) => UINT.test(w) && Number(w) <= 0xffffffff));
  }

  ifname(): string {
    return this.word('an interface name', (w) => IFNAME.test(w));
  }

  weftProto(): void {
    this.keyword('proto');
    this.keyword(String(WEFT_ROUTE_PROTOCOL));
  }

  end(): void {
    if (this.at < this.words.length) throw this.notUnderstood(`unexpected "${this.words[this.at]}"`);
  }

  notUnderstood(why: string): UnparsableBatchLine {
    return new UnparsableBatchLine(`memory kernel does not understand "${this.line}": ${why}`);
  }
}

/** The address of "a.b.c.d" or "a.b.c.d/len" as a number; only parsed lines reach the tables. */
function addressValue(text: string): number {
  const address = parseIpv4(text.split('/')[0] ?? '');
  if (!address) throw new Error(`memory kernel holds a malformed address ${text}`);
  return ipv4ToNumber(address);
}

function prefixLength(text: string): number {
  return Number(text.split('/')[1] ?? 32);
}

function byAddress(a: string, b: string): number {
  return addressValue(a) - addressValue(b) || prefixLength(a) - prefixLength(b);
}

/** Is `address` on the connected subnet of the interface address `cidr`? */
function inSubnetOf(address: string, cidr: string): boolean {
  const mask = maskOf(prefixLength(cidr));
  return ((addressValue(address) & mask) >>> 0) === ((addressValue(cidr) & mask) >>> 0);
}

/**
 * A KernelPort over an in-memory model of the tables weft owns. It runs the batch lines of a
 * plan one by one with the kernel's rules that matter to convergence (a deleted link takes its
 * routes, nexthops, neighbours and FDB entries with it; a deleted nexthop takes the routes on it;
 * a gateway needs `onlink` unless it is on a connected subnet) and reports refused lines as
 * `ip -batch -force` does. A line outside the diff's grammar throws and is kept in `unparsable`,
 * so no test passes on a plan the model silently ignored.
 */
export class MemoryKernel implements KernelPort {
  reads = 0;
  applies = 0;
  /** Every line of every apply, in the order run, refused ones included. */
  readonly linesRun: string[] = [];
  readonly unparsable: string[] = [];

  private readonly links = new Map<string, Link>();
  private readonly routes = new Map<string, Route>();
  private readonly nexthops = new Map<number, KernelNexthop>();
  private readonly neighs = new Map<string, Neigh>();
  private fdb: FdbEntry[] = [];
  private macCounter = 0;

  private readonly holds = new Map<'read' | 'apply', { arrive: () => void; gate: Promise<void> }>();
  private readonly throwsNext = new Map<'read' | 'apply', Error>();
  private refuseNext: Refusal | undefined;
  private refuseAlways: Refusal | undefined;

  constructor(preset: readonly PresetLink[]) {
    for (const link of preset) {
      this.links.set(link.name, {
        name: link.name,
        kind: '',
        learning: false,
        gbp: false,
        mtu: link.mtu ?? 1500,
        mac: this.nextMac(),
        up: true,
        addresses: [...link.addresses],
      });
    }
  }

  async read(vxlanDevice: string | undefined, withNexthops: boolean): Promise<ActualState> {
    this.reads++;
    await this.passGate('read');
    this.throwIfArmed('read');
    return this.view(vxlanDevice, withNexthops);
  }

  async apply(plan: KernelPlan): Promise<ApplyResult> {
    this.applies++;
    await this.passGate('apply');
    this.throwIfArmed('apply');
    const refuse = this.refuseNext ?? this.refuseAlways;
    this.refuseNext = undefined;
    // The same batches, in the same order, as the iproute2 port runs them.
    const failures = [
      ...this.runBatch('ip', plan.device, refuse),
      ...this.runBatch('bridge', plan.fdb, refuse),
      ...this.runBatch('ip', plan.ip, refuse),
    ];
    const lines = plan.device.length + plan.fdb.length + plan.ip.length;
    return { applied: lines - failures.length, failures };
  }

  /** What `read` would return, without counting a read or stopping at a hold. */
  view(vxlanDevice: string | undefined, withNexthops = true): ActualState {
    const link = vxlanDevice === undefined ? undefined : this.links.get(vxlanDevice);
    const device = link && this.deviceState(link);
    const routes: KernelRoute[] = [];
    for (const route of this.routes.values()) {
      // Like `ip -j route`: a route on a nexthop shows that nexthop's gateway and device too.
      const hop = route.nhid === undefined ? route : this.nexthops.get(route.nhid);
      if (!hop?.dev) continue;
      routes.push({
        dst: route.dst,
        dev: hop.dev,
        onlink: hop.onlink,
        ...(hop.gateway ? { gateway: hop.gateway } : {}),
        ...(route.nhid === undefined ? {} : { nhid: route.nhid }),
      });
    }
    // Dumps come in table order, not in the order entries were made: sorted, so a repaired table equals the original.
    return {
      ...(device ? { device } : {}),
      routes: routes.sort((a, b) => byAddress(a.dst, b.dst)),
      nexthops: withNexthops ? [...this.nexthops.values()].map((n) => ({ ...n })).sort((a, b) => a.id - b.id) : [],
      neighs: device
        ? [...this.neighs.values()].filter((n) => n.dev === device.name).map(({ dev: _, ...n }) => n).sort((a, b) => byAddress(a.dst, b.dst))
        : [],
      fdb: device
        ? this.fdb.filter((f) => f.dev === device.name).map(({ dev: _, ...f }) => f).sort((a, b) => a.mac.localeCompare(b.mac))
        : [],
    };
  }

  /** A change made behind weft's back (drift), in the batch grammar; throws if the kernel refuses it. */
  change(line: string): void {
    this.parse(line.startsWith('fdb ') ? 'bridge' : 'ip', line)();
  }

  /** The next read or apply waits at its start until the test releases it. */
  hold(call: 'read' | 'apply'): HeldCall {
    let arrive = (): void => undefined;
    let release = (): void => undefined;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.holds.set(call, { arrive, gate });
    return { reached, release };
  }

  /** The next read or apply rejects with `error` (after any hold). */
  throwNext(call: 'read' | 'apply', error: Error): void {
    this.throwsNext.set(call, error);
  }

  /** In the next apply, lines that `match` are refused with `error` and change nothing. */
  refuseLinesNextApply(match: (line: string) => boolean, error = 'RTNETLINK answers: Operation not permitted'): void {
    this.refuseNext = { match, error };
  }

  /** Until called again without arguments, lines that `match` are refused in every apply. */
  refuseLinesFromNowOn(match?: (line: string) => boolean, error = 'RTNETLINK answers: Network is unreachable'): void {
    this.refuseAlways = match ? { match, error } : undefined;
  }

  private async passGate(call: 'read' | 'apply'): Promise<void> {
    const hold = this.holds.get(call);
    if (!hold) return;
    this.holds.delete(call);
    hold.arrive();
    await hold.gate;
  }

  private throwIfArmed(call: 'read' | 'apply'): void {
    const error = this.throwsNext.get(call);
    if (!error) return;
    this.throwsNext.delete(call);
    throw error;
  }

  private runBatch(tool: Tool, lines: readonly string[], refuse: Refusal | undefined): BatchFailure[] {
    const failures: BatchFailure[] = [];
    lines.forEach((command, index) => {
      this.linesRun.push(command);
      let effect: Effect;
      try {
        effect = this.parse(tool, command);
      } catch (err) {
        this.unparsable.push(command);
        throw err;
      }
      try {
        if (refuse?.match(command)) throw new KernelRefusal(refuse.error);
        effect();
      } catch (err) {
        if (!(err instanceof KernelRefusal)) throw err;
        failures.push({ line: index + 1, command, error: err.message });
      }
    });
    return failures;
  }

  /** Reads the whole line before anything changes: a line the model does not understand never half-applies. */
  private parse(tool: Tool, line: string): Effect {
    const words = new Words(line);
    const object = words.word('an object');
    if (tool === 'bridge') {
      if (object !== 'fdb') throw words.notUnderstood('bridge batches hold only fdb lines');
      return this.fdbLine(words);
    }
    switch (object) {
      case 'link':
        return this.linkLine(words);
      case 'addr':
        return this.addrLine(words);
      case 'route':
        return this.routeLine(words);
      case 'nexthop':
        return this.nexthopLine(words);
      case 'neigh':
        return this.neighLine(words);
      default:
        throw words.notUnderstood(`"${object}" is not an ip object the diff uses`);
    }
  }

  private linkLine(words: Words): Effect {
    const verb = words.word('add, set or del', (w) => w === 'add' || w === 'set' || w === 'del');
    const name = words.ifname();
    if (verb === 'del') {
      words.end();
      return () => {
        this.existingLink(name);
        this.removeLink(name);
      };
    }
    if (verb === 'add') {
      words.keyword('type');
      words.keyword('vxlan');
      words.keyword('id');
      const vni = words.uint('a VNI');
      words.keyword('local');
      const local = words.ipv4();
      words.keyword('dev');
      const lower = words.ifname();
      words.keyword('dstport');
      const port = words.uint('a port');
      const learning = words.word('learning or nolearning', (w) => w === 'learning' || w === 'nolearning') === 'learning';
      const gbp = words.optional('gbp');
      words.end();
      return () => {
        if (this.links.has(name)) throw new KernelRefusal('RTNETLINK answers: File exists');
        const lowerLink = this.existingLink(lower);
        // The kernel sizes a new vxlan device below its lower link and gives it a random MAC; weft sets both.
        this.links.set(name, {
          name, kind: 'vxlan', vni, local, port, lower, learning, gbp, mtu: lowerLink.mtu - 50, mac: this.nextMac(), up: false, addresses: [],
        });
      };
    }
    const changes: Array<(link: Link) => void> = [];
    while (words.peek() !== undefined) {
      if (words.optional('address')) {
        const mac = words.mac();
        changes.push((link) => (link.mac = mac));
      } else if (words.optional('mtu')) {
        const mtu = words.uint('an MTU');
        changes.push((link) => (link.mtu = mtu));
      } else {
        words.keyword('up');
        changes.push((link) => (link.up = true));
      }
    }
    if (changes.length === 0) throw words.notUnderstood('link set without a change');
    return () => {
      const link = this.existingLink(name);
      for (const change of changes) change(link);
    };
  }

  private addrLine(words: Words): Effect {
    const verb = words.word('replace or del', (w) => w === 'replace' || w === 'del');
    const address = words.address();
    words.keyword('dev');
    const dev = words.ifname();
    words.end();
    return () => {
      const link = this.existingLink(dev);
      const present = link.addresses.includes(address);
      if (verb === 'replace') {
        if (!present) link.addresses.push(address);
        return;
      }
      if (!present) throw new KernelRefusal('RTNETLINK answers: Cannot assign requested address');
      link.addresses = link.addresses.filter((a) => a !== address);
    };
  }

  /** `[via GW] dev DEV [onlink]`; the returned check refuses a gateway the kernel would. */
  private nextHop(words: Words): { hop: { gateway?: string; dev: string; onlink: boolean }; check: Effect } {
    const gateway = words.optional('via') ? words.ipv4() : undefined;
    words.keyword('dev');
    const dev = words.ifname();
    const onlink = words.optional('onlink');
    const check = (): void => {
      const link = this.existingLink(dev);
      if (gateway && !onlink && !link.addresses.some((a) => inSubnetOf(gateway, a))) {
        throw new KernelRefusal('Error: Nexthop has invalid gateway.');
      }
    };
    return { hop: { ...(gateway ? { gateway } : {}), dev, onlink }, check };
  }

  private routeLine(words: Words): Effect {
    const verb = words.word('replace or del', (w) => w === 'replace' || w === 'del');
    const dst = words.network();
    if (verb === 'del') {
      words.weftProto();
      words.end();
      return () => {
        if (!this.routes.delete(dst)) throw new KernelRefusal('RTNETLINK answers: No such process');
      };
    }
    if (words.optional('nhid')) {
      const nhid = words.uint('a nexthop id');
      words.weftProto();
      words.end();
      return () => {
        if (!this.nexthops.has(nhid)) throw new KernelRefusal('Error: Nexthop id does not exist.');
        this.routes.set(dst, { dst, nhid, onlink: false });
      };
    }
    const { hop, check } = this.nextHop(words);
    words.weftProto();
    words.end();
    return () => {
      check();
      this.routes.set(dst, { dst, ...hop });
    };
  }

  private nexthopLine(words: Words): Effect {
    const verb = words.word('replace or del', (w) => w === 'replace' || w === 'del');
    words.keyword('id');
    const id = words.uint('a nexthop id');
    if (id === 0) throw words.notUnderstood('nexthop id 0 asks the kernel to pick one');
    if (verb === 'del') {
      words.end();
      return () => {
        if (!this.nexthops.delete(id)) throw new KernelRefusal('Error: Nexthop id does not exist.');
        // The kernel deletes the routes that used it.
        for (const [dst, route] of this.routes) if (route.nhid === id) this.routes.delete(dst);
      };
    }
    const { hop, check } = this.nextHop(words);
    words.weftProto();
    words.end();
    return () => {
      check();
      this.nexthops.set(id, { id, ...hop });
    };
  }

  private neighLine(words: Words): Effect {
    const verb = words.word('replace or del', (w) => w === 'replace' || w === 'del');
    const dst = words.ipv4();
    let lladdr: string | undefined;
    if (verb === 'replace') {
      words.keyword('lladdr');
      lladdr = words.mac();
    }
    words.keyword('dev');
    const dev = words.ifname();
    if (lladdr) {
      words.keyword('nud');
      words.keyword('permanent');
    }
    words.end();
    return () => {
      this.existingLink(dev);
      const key = `${dev} ${dst}`;
      if (lladdr) this.neighs.set(key, { dev, dst, lladdr, permanent: true });
      else if (!this.neighs.delete(key)) throw new KernelRefusal('RTNETLINK answers: No such file or directory');
    };
  }

  private fdbLine(words: Words): Effect {
    const verb = words.word('replace or del', (w) => w === 'replace' || w === 'del');
    const mac = words.mac();
    words.keyword('dev');
    const dev = words.ifname();
    words.keyword('dst');
    const dst = words.ipv4();
    words.keyword('self');
    if (verb === 'replace') words.keyword('permanent');
    words.end();
    return () => {
      this.existingLink(dev);
      if (verb === 'del') {
        // As Linux does: an unknown MAC is refused, but a known MAC without that remote is a
        // no-op that succeeds (so deleting a remote that a replace just rewrote is harmless).
        if (!this.fdb.some((f) => f.dev === dev && f.mac === mac)) throw new KernelRefusal('RTNETLINK answers: No such file or directory');
        this.fdb = this.fdb.filter((f) => !(f.dev === dev && f.mac === mac && f.dst === dst));
        return;
      }
      // A vxlan device's replace rewrites the MAC's first remote and leaves any appended ones.
      const first = this.fdb.findIndex((f) => f.dev === dev && f.mac === mac);
      const entry = { dev, mac, dst, permanent: true };
      if (first < 0) this.fdb.push(entry);
      else this.fdb[first] = entry;
    };
  }

  private existingLink(name: string): Link {
    const link = this.links.get(name);
    if (!link) throw new KernelRefusal(`Cannot find device "${name}"`);
    return link;
  }

  /** Deleting a link takes everything that hangs off it. */
  private removeLink(name: string): void {
    this.links.delete(name);
    for (const [id, hop] of this.nexthops) if (hop.dev === name) this.nexthops.delete(id);
    for (const [dst, route] of this.routes) {
      if (route.dev === name || (route.nhid !== undefined && !this.nexthops.has(route.nhid))) this.routes.delete(dst);
    }
    for (const [key, neigh] of this.neighs) if (neigh.dev === name) this.neighs.delete(key);
    this.fdb = this.fdb.filter((f) => f.dev !== name);
  }

  private deviceState(link: Link): VxlanDeviceState {
    return {
      name: link.name,
      kind: link.kind,
      learning: link.learning,
      gbp: link.gbp,
      mtu: link.mtu,
      mac: link.mac,
      up: link.up,
      addresses: [...link.addresses],
      ...(link.vni === undefined ? {} : { vni: link.vni }),
      ...(link.port === undefined ? {} : { port: link.port }),
      ...(link.local === undefined ? {} : { local: link.local }),
      ...(link.lower === undefined ? {} : { link: link.lower }),
    };
  }

  private nextMac(): string {
    this.macCounter++;
    return `0a:00:00:00:${(this.macCounter >> 8).toString(16).padStart(2, '0')}:${(this.macCounter & 255).toString(16).padStart(2, '0')}`;
  }
}
