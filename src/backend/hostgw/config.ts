export interface HostGwBackendConfig {
  readonly type: 'host-gw';
}

/** host-gw has no fields of its own; Flannel ignores any it is given, and so does weft. */
export function parseHostGwConfig(): HostGwBackendConfig {
  return { type: 'host-gw' };
}
