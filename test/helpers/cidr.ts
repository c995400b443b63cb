import { type Ipv4Subnet, parseIpv4Cidr } from '../../src/net/ipv4.js';
import { type Ipv6Subnet, parseIpv6Cidr } from '../../src/net/ipv6.js';

/** A CIDR a test writes by hand; throws on a typo rather than testing the wrong thing. */
export function ipv4Cidr(text: string): Ipv4Subnet {
  const r = parseIpv4Cidr(text);
  if (!r.ok) throw new Error(`${text}: ${r.reason}`);
  return r.subnet;
}

export function ipv6Cidr(text: string): Ipv6Subnet {
  const r = parseIpv6Cidr(text);
  if (!r.ok) throw new Error(`${text}: ${r.reason}`);
  return r.subnet;
}

/** The IPv4 one under the name most tests use. */
export const cidr = ipv4Cidr;
