import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';

/** A bind mount into an isolated process's root. */
export interface Bind {
  /** A path on this machine. */
  readonly source: string;
  /** The path inside the root; symlinks in it resolve inside the root, as runc resolves them. */
  readonly target: string;
  readonly readOnly?: boolean;
  /** Bind the mounts below `source` too (e.g. /run/netns with its namespace handles). */
  readonly recursive?: boolean;
}

export interface IsolatedProcess {
  /** The host's network namespace the process joins. */
  readonly netns: string;
  /** An empty directory on this machine: the root's scratch tmpfs is mounted there. */
  readonly scratch: string;
  /** Applied in order after the system mounts; later binds may land inside earlier ones. */
  readonly binds: readonly Bind[];
  readonly argv: readonly string[];
  /** The whole environment: nothing is inherited. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /**
   * The capabilities the process keeps, as securityContext names them (NET_ADMIN); undefined
   * keeps all of them, as the container runtime itself and the CNI plugins it starts do.
   */
  readonly capabilities?: readonly string[];
  /**
   * A container's view of the kernel, as runc gives an unprivileged container: /sys and
   * /proc/sys read-only, and a /dev of its own with only the standard devices (anything else,
   * like /dev/net/tun, must come as a hostPath). Otherwise the machine's /dev and /sys.
   */
  readonly containerKernelView: boolean;
}

/** `path` with every symlink resolved inside the root: this machine's file system is that root's lower layer. */
export function resolveInRoot(path: string): string {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  for (let hops = 0; pending.length; ) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = `/${[...resolved, part].join('/')}`;
    let link: string | undefined;
    try {
      if (lstatSync(candidate).isSymbolicLink()) link = readlinkSync(candidate);
    } catch {
      // Missing: the mount point is created there as a plain directory or file.
    }
    if (link === undefined) {
      resolved.push(part);
      continue;
    }
    if (++hops > 40) throw new Error(`${path}: too many levels of symbolic links`);
    if (link.startsWith('/')) resolved = [];
    pending.unshift(...link.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return posix.join('/', ...resolved);
}

/** The device nodes runc creates in every container's /dev. */
const CONTAINER_DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const;

export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that runs `process` the way a container runtime runs a container: in the host's
 * network namespace (`ip netns exec`), in a mount namespace of its own (`unshare --mount`, private
 * propagation, so nothing leaks back), on a root that is an overlay with this machine's root file
 * system as its only lower layer and a throwaway tmpfs upper layer (the container's writable
 * layer), with /dev, /proc and /sys mounted, then the binds. It is entered with chroot, the
 * environment replaced, and the capability sets cut to exactly `capabilities` with setpriv: as
 * uid 0 without file capabilities, execve makes the permitted and effective sets equal to the
 * bounding set, so bounding = the granted list is what the process and its children get.
 *
 * Every step is an exec, so the returned process's pid is the payload's pid.
 */
export function isolatedCommand(process: IsolatedProcess): { file: string; args: string[] } {
  const q = shellQuote;
  const root = `${process.scratch}/root`;
  const lines = [
    'set -e',
    `mount -t tmpfs -o mode=0755 weft-container ${q(process.scratch)}`,
    `mkdir ${q(`${process.scratch}/upper`)} ${q(`${process.scratch}/work`)} ${q(root)}`,
    `mount -t overlay weft-rootfs -o lowerdir=/,upperdir=${q(`${process.scratch}/upper`)},workdir=${q(`${process.scratch}/work`)} ${q(root)}`,
    `mount --rbind /proc ${q(`${root}/proc`)}`,
  ];
  if (process.containerKernelView) {
    lines.push(`mount -t tmpfs -o nosuid,mode=0755 weft-dev ${q(`${root}/dev`)}`, `mkdir ${q(`${root}/dev/pts`)} ${q(`${root}/dev/shm`)}`);
    for (const device of CONTAINER_DEVICES) lines.push(`: > ${q(`${root}/dev/${device}`)}`, `mount --bind /dev/${device} ${q(`${root}/dev/${device}`)}`);
    lines.push(
      `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts ${q(`${root}/dev/pts`)}`,
      `ln -s pts/ptmx ${q(`${root}/dev/ptmx`)}`,
      `ln -s /proc/self/fd ${q(`${root}/dev/fd`)}`,
      `mount -t tmpfs -o nosuid,nodev,mode=1777 shm ${q(`${root}/dev/shm`)}`,
    );
    lines.push(`mount --bind -o ro ${q(`${root}/proc/sys`)} ${q(`${root}/proc/sys`)}`);
    // A fresh sysfs in this network namespace shows its own devices, as ip netns exec's does.
    lines.push(`mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${q(`${root}/sys`)}`);
  } else {
    lines.push(`mount --rbind /dev ${q(`${root}/dev`)}`, `mount --rbind /sys ${q(`${root}/sys`)}`);
  }
  for (const bind of process.binds) {
    const target = `${root}${resolveInRoot(bind.target)}`;
    if (statSync(bind.source).isDirectory()) lines.push(`mkdir -p ${q(target)}`);
    else lines.push(`mkdir -p ${q(posix.dirname(target))}`, `[ -e ${q(target)} ] || : > ${q(target)}`);
    const options = [bind.recursive ? '--rbind' : '--bind', ...(bind.readOnly ? ['-o', 'ro'] : [])];
    lines.push(`mount ${options.join(' ')} ${q(bind.source)} ${q(target)}`);
  }
  lines.push(`mkdir -p ${q(`${root}${resolveInRoot(process.cwd)}`)}`);
  const env = Object.entries(process.env).map(([k, v]) => q(`${k}=${v}`));
  const drop =
    process.capabilities === undefined
      ? []
      : ['/usr/bin/setpriv', '--inh-caps=-all', '--ambient-caps=-all', `--bounding-set=${['-all', ...process.capabilities.map((c) => `+${c.toLowerCase()}`)].join(',')}`, '--'];
  lines.push(`exec chroot ${q(root)} /usr/bin/env -i -C ${q(process.cwd)} ${env.join(' ')} ${[...drop, ...process.argv].map(q).join(' ')}`);
  return { file: 'ip', args: ['netns', 'exec', process.netns, 'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', lines.join('\n')] };
}
