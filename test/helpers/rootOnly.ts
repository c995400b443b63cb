import { describe } from '@jest/globals';
import { canBuildNamespaces } from './netnsCluster.js';

/**
 * `describe` for suites that need root and network namespaces. Without them the suite is
 * skipped — loudly, so nobody mistakes a skip for a pass. CI runs as root and never skips.
 */
export function describeAsRoot(name: string, body: () => void): void {
  if (canBuildNamespaces()) {
    describe(name, body);
    return;
  }
  process.stderr.write(`\n*** SKIPPED "${name}": needs root and network namespaces (run as root, as CI does) ***\n\n`);
  describe.skip(name, body);
}
