import { ExternalLinkGuard } from '../../src/agent/externalLinkGuard.js';
import type { HostInterface } from '../../src/net/hostInterface.js';
import { silentLogger } from '../../src/util/log.js';
import { waitFor } from '../helpers/waitFor.js';

const eth0 = (address: string): HostInterface => ({ name: 'eth0', index: 2, mtu: 1500, up: true, ipv4: [{ address, prefixLength: 24, scope: 'global' }], ipv6: [] });

describe('ExternalLinkGuard', () => {
  let interfaces: HostInterface[];
  let reads: number;
  let backs: number;
  let guard: ExternalLinkGuard;

  beforeEach(() => {
    interfaces = [eth0('192.168.1.11')];
    reads = 0;
    backs = 0;
    guard = new ExternalLinkGuard({
      iface: 'eth0',
      address: '192.168.1.11',
      interfaces: async () => {
        reads++;
        return interfaces;
      },
      logger: silentLogger(),
      onBack: () => backs++,
      minRecheckMs: 20,
      maxRecheckMs: 80,
    });
  });
  afterEach(() => guard.stop());

  it('stays usable while the interface holds its address', async () => {
    await guard.check();
    expect(guard.usable).toBe(true);
    expect(backs).toBe(0);
  });

  it('is unusable without the interface or without its address, and rechecks with backoff until it is back', async () => {
    interfaces = [];
    await guard.check();
    expect(guard.usable).toBe(false);
    interfaces = [eth0('192.168.1.99')];
    await guard.check();
    expect(guard.usable).toBe(false);
    const before = reads;
    await new Promise((resolve) => setTimeout(resolve, 400));
    // 20, 40, 80, 80 … ms: a handful of reads, not one per millisecond.
    expect(reads - before).toBeGreaterThanOrEqual(3);
    expect(reads - before).toBeLessThan(15);
    interfaces = [eth0('192.168.1.11')];
    await waitFor(() => guard.usable, 1_000);
    expect(backs).toBe(1);
  });

  it('looks again when asked during a look that may have read too early', async () => {
    interfaces = [];
    await guard.check();
    const first = guard.check();
    interfaces = [eth0('192.168.1.11')];
    const second = guard.check();
    await Promise.all([first, second]);
    expect(guard.usable).toBe(true);
  });
});
