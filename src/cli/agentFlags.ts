import { Command, InvalidArgumentError, Option } from 'commander';
import { parseIpv4 } from '../net/ipv4.js';
import { normalizeIpv6, parseIpv6 } from '../net/ipv6.js';
import { errorMessage } from '../util/errors.js';
import { DEFAULT_ANNOTATION_PREFIX, normalizeAnnotationPrefix } from '../subnet/kube/annotations.js';

/**
 * Every `weft agent` flag, with Flannel's name, default and meaning. One table drives the
 * commander definition and the FLANNELD_* environment mapping; a unit test holds README's flag
 * list to it.
 */
export interface FlagSpec {
  readonly name: string;
  readonly kind: 'string' | 'strings' | 'bool' | 'int';
  readonly valueName?: string;
  readonly description: string;
  readonly defaultValue?: string | number | boolean | readonly string[];
  readonly parse?: (value: string) => string | number;
}

export const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:4001,http://127.0.0.1:2379';
export const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';
export const DEFAULT_NET_CONFIG_PATH = '/etc/kube-flannel/net-conf.json';

export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'etcd-endpoints', kind: 'string', valueName: 'urls', defaultValue: DEFAULT_ETCD_ENDPOINTS, parse: parseEndpoints, description: 'comma-separated list of etcd endpoints' },
  { name: 'etcd-prefix', kind: 'string', valueName: 'path', defaultValue: DEFAULT_ETCD_PREFIX, parse: parseEtcdPrefix, description: 'etcd prefix' },
  { name: 'etcd-keyfile', kind: 'string', valueName: 'path', description: 'SSL key file used to secure etcd communication' },
  { name: 'etcd-certfile', kind: 'string', valueName: 'path', description: 'SSL certification file used to secure etcd communication' },
  { name: 'etcd-cafile', kind: 'string', valueName: 'path', description: 'SSL Certificate Authority file used to secure etcd communication' },
  { name: 'etcd-username', kind: 'string', valueName: 'name', description: 'username for BasicAuth to etcd' },
  { name: 'etcd-password', kind: 'string', valueName: 'password', description: 'password for BasicAuth to etcd' },
  { name: 'iface', kind: 'strings', valueName: 'name-or-ip', defaultValue: [], description: 'interface to use (IP or name) for inter-host communication; repeat to give fallbacks in order' },
  { name: 'iface-regex', kind: 'strings', valueName: 'regex', defaultValue: [], parse: parseRegex, description: 'regex matching the first interface (by IP, then name) to use; repeatable' },
  { name: 'iface-can-reach', kind: 'string', valueName: 'ip', parse: parseIpFlag, description: 'use the interface the kernel routes this address (IPv4 or IPv6) through' },
  { name: 'public-ip', kind: 'string', valueName: 'ip', parse: parseIpv4Flag, description: 'IP accessible by other nodes for inter-host communication' },
  { name: 'public-ipv6', kind: 'string', valueName: 'ip', parse: parseIpv6Flag, description: 'IPv6 address accessible by other nodes for inter-host communication' },
  { name: 'subnet-file', kind: 'string', valueName: 'path', defaultValue: DEFAULT_SUBNET_FILE, description: 'filename where env variables (subnet, MTU, ...) will be written to' },
  { name: 'subnet-lease-renew-margin', kind: 'int', valueName: 'minutes', defaultValue: 60, parse: intInRange(1, 1439), description: 'subnet lease renewal margin, in minutes, ranging from 1 to 1439' },
  { name: 'ip-masq', kind: 'bool', defaultValue: false, description: 'setup IP masquerade rule for traffic destined outside of overlay network' },
  { name: 'ip-masq-fully-random-disable', kind: 'bool', defaultValue: false, description: 'masquerade without --random-fully (fully-random in nftables mode)' },
  { name: 'ip-blackhole-route', kind: 'bool', defaultValue: false, description: "add a blackhole route for this node's own subnet, so traffic to its unused addresses never leaves the node" },
  { name: 'iptables-forward-rules', kind: 'bool', defaultValue: true, description: 'add default accept rules to FORWARD chain in iptables' },
  { name: 'iptables-resync', kind: 'int', valueName: 'seconds', defaultValue: 5, parse: intInRange(1, 86400), description: 'resync period for iptables rules, in seconds' },
  { name: 'healthz-ip', kind: 'string', valueName: 'ip', defaultValue: '0.0.0.0', parse: parseIpv4Flag, description: 'the IP address for healthz server to listen' },
  { name: 'healthz-port', kind: 'int', valueName: 'port', defaultValue: 0, parse: intInRange(0, 65535), description: 'the port for healthz server to listen (0 to disable)' },
  { name: 'kube-subnet-mgr', kind: 'bool', defaultValue: false, description: 'contact the Kubernetes API for subnet assignment instead of etcd' },
  { name: 'kubeconfig-file', kind: 'string', valueName: 'path', description: 'kubeconfig file location (default: in-cluster configuration)' },
  { name: 'kube-api-url', kind: 'string', valueName: 'url', parse: parseHttpUrl, description: 'Kubernetes API server URL (default: from kubeconfig or in-cluster)' },
  { name: 'kube-annotation-prefix', kind: 'string', valueName: 'prefix', defaultValue: DEFAULT_ANNOTATION_PREFIX, parse: parseAnnotationPrefix, description: 'Kubernetes annotation prefix for node annotations' },
  { name: 'set-node-network-unavailable', kind: 'bool', defaultValue: true, description: "set the node's NetworkUnavailable condition to False once routes are in place (Kubernetes mode)" },
  { name: 'net-config-path', kind: 'string', valueName: 'path', defaultValue: DEFAULT_NET_CONFIG_PATH, description: 'path to the network configuration file (Kubernetes mode)' },
];

export function envNameFor(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

export function parseBool(value: string): boolean {
  const normalized = value.trim().toLowerCase();
  if (['true', '1', 't', 'yes'].includes(normalized)) return true;
  if (['false', '0', 'f', 'no'].includes(normalized)) return false;
  throw new InvalidArgumentError('must be true or false.');
}

function intInRange(min: number, max: number): (value: string) => number {
  return (value) => {
    const trimmed = value.trim();
    if (!/^-?\d+$/.test(trimmed)) throw new InvalidArgumentError(`must be an integer in ${min}..${max}.`);
    const n = Number(trimmed);
    if (n < min || n > max) throw new InvalidArgumentError(`must be an integer in ${min}..${max}.`);
    return n;
  };
}

function parseIpv4Flag(value: string): string {
  const address = parseIpv4(value.trim());
  if (!address) throw new InvalidArgumentError('must be an IPv4 address.');
  return address.toString();
}

function parseIpv6Flag(value: string): string {
  const address = normalizeIpv6(value.trim());
  if (!address) throw new InvalidArgumentError('must be an IPv6 address.');
  return address;
}

function parseIpFlag(value: string): string {
  return parseIpv6(value.trim()) ? parseIpv6Flag(value) : parseIpv4Flag(value);
}

function parseRegex(value: string): string {
  try {
    new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(`is not a valid regular expression: ${(err as Error).message}.`);
  }
  return value;
}

function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be an http:// or https:// URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('must be an http:// or https:// URL.');
  return value;
}

function parseEndpoints(value: string): string {
  const endpoints = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (endpoints.length === 0) throw new InvalidArgumentError('must list at least one endpoint.');
  for (const endpoint of endpoints) {
    try {
      parseHttpUrl(endpoint);
    } catch {
      throw new InvalidArgumentError(`endpoint ${JSON.stringify(endpoint)} must be an http:// or https:// URL.`);
    }
  }
  const schemes = new Set(endpoints.map((e) => new URL(e).protocol));
  if (schemes.size > 1) throw new InvalidArgumentError('must not mix http:// and https:// endpoints.');
  return endpoints.join(',');
}

function parseEtcdPrefix(value: string): string {
  if (!value.startsWith('/') || value.length < 2 || /\s/.test(value)) {
    throw new InvalidArgumentError('must be an absolute key path such as /coreos.com/network.');
  }
  return value.replace(/\/+$/, '');
}

/** Validated here so a bad prefix fails at start-up with a usage error; kept as given, normalised where used. */
function parseAnnotationPrefix(value: string): string {
  try {
    normalizeAnnotationPrefix(value);
  } catch (err) {
    throw new InvalidArgumentError(`${errorMessage(err)}.`);
  }
  return value;
}

/** Adds every flag of AGENT_FLAGS to a commander command, each also read from FLANNELD_<NAME>. */
export function addAgentFlags(command: Command): Command {
  for (const spec of AGENT_FLAGS) {
    const value = spec.valueName ?? 'value';
    let option: Option;
    switch (spec.kind) {
      case 'bool':
        // Go's flag package accepts --flag, --flag=true and --flag=false; keep all three.
        option = new Option(`--${spec.name} [bool]`, spec.description).argParser(parseBool);
        break;
      case 'strings':
        option = new Option(`--${spec.name} <${value}>`, spec.description).argParser(
          (next: string, previous: string[] | undefined) => [...(previous ?? []), spec.parse ? String(spec.parse(next)) : next],
        );
        break;
      default:
        option = new Option(`--${spec.name} <${value}>`, spec.description);
        if (spec.parse) option.argParser(spec.parse);
    }
    if (spec.defaultValue !== undefined) option.default(spec.defaultValue);
    command.addOption(option.env(envNameFor(spec.name)));
  }
  command.addOption(
    new Option('-v, --verbosity <level>', 'log verbosity; 0 logs info, 1 and up add debug detail')
      .argParser(intInRange(0, 10))
      .default(0)
      .env('FLANNELD_V'),
  );
  return command;
}

const LONG_FLAG_NAMES = new Set([...AGENT_FLAGS.map((f) => f.name), 'version', 'help']);

/**
 * Flannel is a Go program, so operators write `-etcd-endpoints=…` and `-v=2` as often as the
 * double-dash form. Rewrite the single-dash spelling of known long flags before commander sees it.
 */
export function normalizeGoStyleArgs(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const verbosity = /^--?v=(.*)$/.exec(arg);
    if (verbosity) return `--verbosity=${verbosity[1]}`;
    const match = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(arg);
    if (match && LONG_FLAG_NAMES.has(match[1] as string)) return `-${arg}`;
    return arg;
  });
}
