import type { DesiredIndex } from '../backend/desiredIndex.js';
import type { KernelEvent } from '../kernel/kernelEvents.js';
import type { AddressFamily } from './planes.js';

/** What one plane owns, for telling its events from another plane's. */
export interface EchoScope {
  readonly family: AddressFamily;
  readonly deviceName: string | undefined;
  readonly useNexthops: boolean;
}

function familyOf(address: string): AddressFamily {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

/**
 * Is a kernel event accounted for by the plane's last plan: our own write echoed back, the
 * kernel's own churn on an entry we do not hold, or another plane's business? False means the
 * kernel may differ from the plan and a full pass must look.
 */
export function accountedFor(event: KernelEvent, index: DesiredIndex, plane: EchoScope): boolean {
  switch (event.kind) {
    case 'route': {
      if (familyOf(event.dst) !== plane.family) return true;
      const route = index.route(event.dst);
      if (event.deleted) return route === undefined;
      if (!route) return false;
      return plane.useNexthops ? event.nhid === route.nexthopId : event.nhid === undefined && event.gateway === route.gateway && event.dev === route.dev;
    }
    case 'nexthop': {
      if (!plane.useNexthops) return true;
      const route = index.nexthop(event.id);
      if (event.deleted) return route === undefined;
      return route !== undefined && event.gateway === route.gateway && event.dev === route.dev;
    }
    case 'neigh': {
      if (event.dev !== plane.deviceName) return true;
      const lladdr = index.neighbour(event.dst);
      if (event.deleted || !event.permanent) return lladdr === undefined;
      return lladdr === event.lladdr;
    }
    case 'fdb': {
      if (event.dev !== plane.deviceName) return true;
      const dst = index.fdbDestination(event.mac);
      if (event.deleted) return dst !== event.dst;
      return event.permanent ? dst === event.dst : dst === undefined;
    }
    case 'other':
      return false;
  }
}
