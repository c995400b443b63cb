import { type Ipv4Subnet, parseIpv4Cidr } from '../../src/net/ipv4.js';

/** A subnet from CIDR text a test writes down, which must parse. */
export function cidr(text: string): Ipv4Subnet {
  const parsed = parseIpv4Cidr(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.subnet;
}
