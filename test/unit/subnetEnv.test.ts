import { mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatSubnetEnv, previousSubnetFromEnv, writeSubnetEnv } from '../../src/agent/subnetEnv.js';
import { formatSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

describe('subnet.env', () => {
  const env = { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.3.0/24'), mtu: 1450, ipMasq: true };

  it('is formatted exactly as Flannel writes it', () => {
    expect(formatSubnetEnv(env)).toBe('FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  });

  it('yields the previous subnet back', () => {
    expect(formatSubnet(previousSubnetFromEnv(formatSubnetEnv(env))!)).toBe('10.244.3.0/24');
    expect(previousSubnetFromEnv('# nothing\nFOO=bar\n')).toBeUndefined();
    expect(previousSubnetFromEnv('FLANNEL_SUBNET=banana\n')).toBeUndefined();
  });

  it('is written atomically with mode 0644 and no temp file left behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-env-'));
    const path = join(dir, 'nested', 'subnet.env');
    await writeSubnetEnv(path, env);
    await writeSubnetEnv(path, { ...env, mtu: 1400 });
    expect(await readFile(path, 'utf8')).toContain('FLANNEL_MTU=1400');
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, 'nested'))).toEqual(['subnet.env']);
  });
});
