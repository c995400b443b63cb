import { EtcdResetDetector } from '../../src/subnet/etcd/resetDetector.js';

describe('EtcdResetDetector', () => {
  it('accepts one history moving forward', () => {
    const d = new EtcdResetDetector();
    expect(d.check({ clusterId: 'a', revision: 5 })).toBeUndefined();
    d.sawRevision(9);
    expect(d.check({ clusterId: 'a', revision: 9 })).toBeUndefined();
    expect(d.check({ clusterId: 'a', revision: 12 })).toBeUndefined();
  });

  it('sees a revision below one already seen (etcd rebuilt on an empty data dir keeps its cluster ID)', () => {
    const d = new EtcdResetDetector();
    d.check({ clusterId: 'a', revision: 5 });
    d.sawRevision(40);
    expect(d.check({ clusterId: 'a', revision: 3 })).toBe('etcd revision went backwards from 40 to 3');
    // Still a reset until the new history is adopted.
    expect(d.check({ clusterId: 'a', revision: 4 })).toBeDefined();
    d.rebase({ clusterId: 'a', revision: 4 });
    expect(d.check({ clusterId: 'a', revision: 6 })).toBeUndefined();
  });

  it('sees a different cluster even at a higher revision', () => {
    const d = new EtcdResetDetector();
    d.check({ clusterId: 'a', revision: 5 });
    expect(d.check({ clusterId: 'b', revision: 500 })).toBe('etcd cluster ID changed from a to b');
  });
});
