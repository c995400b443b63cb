import { mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { rm, unlink, writeFile } from 'node:fs/promises';
import { ensureSubnetEnv, formatSubnetEnv, previousSubnetFromEnv, writeSubnetEnv } from '../../src/agent/subnetEnv.js';
import { describeAsRoot } from '../helpers/rootOnly.js';
import { formatSubnet, parseIpv4Cidr, type Ipv4Subnet } from '../../src/net/ipv4.js';

function cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.subnet;
}

const env = { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.3.0/24'), mtu: 1450, ipMasq: true };

describe('subnet.env', () => {
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

  it('is rewritten when deleted or edited, and left alone when it is right', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-env-'));
    const path = join(dir, 'subnet.env');
    expect(await ensureSubnetEnv(path, env)).toBe(true);
    expect(await ensureSubnetEnv(path, env)).toBe(false);
    await unlink(path);
    expect(await ensureSubnetEnv(path, env)).toBe(true);
    await writeFile(path, 'FLANNEL_SUBNET=10.9.9.1/24\n');
    expect(await ensureSubnetEnv(path, env)).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(formatSubnetEnv(env));
  });
});

describeAsRoot('subnet.env on a full disk', () => {
  it('fails naming the path and leaves no temp file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', dir]);
    try {
      await writeFile(join(dir, 'filler'), Buffer.alloc(64 * 1024)).catch(() => undefined);
      const path = join(dir, 'subnet.env');
      // (Under jest, fs errors come from another realm and print with an "Error: " prefix.)
      await expect(writeSubnetEnv(path, env)).rejects.toThrow(new RegExp(`^writing ${path.replace(/[.]/g, '\\.')}: (Error: )?ENOSPC`));
      expect(await readdir(dir)).toEqual(['filler']);
    } finally {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
