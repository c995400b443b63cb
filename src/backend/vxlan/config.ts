import { optionalBoolean, optionalInteger } from '../../util/jsonFields.js';

export interface VxlanBackendConfig {
  readonly type: 'vxlan';
  readonly vni: number;
  /** UDP port; 0 means the kernel default (8472), as in Flannel. */
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly directRouting: boolean;
  /**
   * The outer (underlay) MTU, as in Flannel: the device and the pods get this minus the VXLAN
   * overhead. 0 means the external interface's MTU.
   */
  readonly mtu: number;
}

export const VXLAN_DEFAULT_VNI = 1;
export const VXLAN_KERNEL_DEFAULT_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14) headers. */
export const VXLAN_OVERHEAD = 50;
/** The smallest MTU an IPv4 host must accept (RFC 791); the outer MTU needs the overhead on top. */
const MIN_OUTER_MTU = 576 + VXLAN_OVERHEAD;

/** Flannel's vxlan Backend fields and defaults; every rejection names `Backend.<field>`. */
export function parseVxlanConfig(fields: Record<string, unknown>): VxlanBackendConfig {
  const path = 'Backend.';
  return {
    type: 'vxlan',
    vni: optionalInteger(fields, 'VNI', VXLAN_DEFAULT_VNI, { min: 1, max: 16_777_215 }, path),
    port: optionalInteger(fields, 'Port', 0, { min: 0, max: 65_535 }, path),
    gbp: optionalBoolean(fields, 'GBP', false, path),
    learning: optionalBoolean(fields, 'Learning', false, path),
    directRouting: optionalBoolean(fields, 'DirectRouting', false, path),
    mtu: optionalInteger(
      fields,
      'MTU',
      0,
      {
        min: 0,
        max: 65_535,
        extra: {
          test: (v) => v === 0 || v >= MIN_OUTER_MTU,
          reason: `must be 0 (the external interface's MTU) or at least ${MIN_OUTER_MTU}: it is the outer MTU, and the device gets ${VXLAN_OVERHEAD} less`,
        },
      },
      path,
    ),
  };
}

/**
 * An IPv6 outer header is 20 bytes longer than an IPv4 one. Flannel sizes flannel-v6.<VNI> like
 * flannel.<VNI>, which makes full-size packets too big for the underlay; weft gives the IPv6
 * device the 20 bytes back so the kernel answers with "packet too big" instead.
 */
export const VXLAN_IPV6_EXTRA_OVERHEAD = 20;

/** The kernel's VXLAN port when the config leaves it at 0. */
export function effectiveVxlanPort(config: VxlanBackendConfig): number {
  return config.port === 0 ? VXLAN_KERNEL_DEFAULT_PORT : config.port;
}

/**
 * MTU of the vxlan device and of the pods (FLANNEL_MTU). Backend.MTU is the outer MTU, as in
 * Flannel's vxlan backend, so both get it minus the encapsulation.
 */
export function vxlanPodMtu(config: VxlanBackendConfig, externalMtu: number): number {
  return (config.mtu > 0 ? config.mtu : externalMtu) - VXLAN_OVERHEAD;
}

export function vxlanDeviceName(vni: number): string {
  return `flannel.${vni}`;
}

/** Flannel's name for the IPv6 VXLAN device. */
export function vxlanIpv6DeviceName(vni: number): string {
  return `flannel-v6.${vni}`;
}
