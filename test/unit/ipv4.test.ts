import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { formatIpv4, ipv4ToNumber, parseIpv4 } from '../../src/net/ipv4.js';

describe('parseIpv4', () => {
  it.each(['192.168.1.1', '0.0.0.0', '255.255.255.255', '10.0.0.1'])('accepts %s', (text) => {
    expect(parseIpv4(text)?.toString()).toBe(text);
  });

  it.each(['256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '0x1.2.3.4', '1.2.3.4 ', '', '1.2.3.4/24', '::1'])('rejects %j', (text) => {
    expect(parseIpv4(text)).toBeUndefined();
  });

  it('agrees with ipaddr.js on what a strict dotted quad is', () => {
    const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('00', '08', '0x10', '-1', ''));
    fc.assert(
      fc.property(fc.array(part, { minLength: 3, maxLength: 5 }), (parts) => {
        const text = parts.join('.');
        const expected = ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toString() : undefined;
        expect(parseIpv4(text)?.toString()).toBe(expected);
      }),
    );
  });
});

describe('formatIpv4', () => {
  it('is the inverse of parsing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (value) => {
        const text = formatIpv4(value);
        expect(text).toBe(ipaddr.fromByteArray([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]).toString());
        expect(ipv4ToNumber(parseIpv4(text)!)).toBe(value);
      }),
    );
  });
});
