import { LeaseStore } from '../../src/subnet/leaseStore.js';

describe('LeaseStore', () => {
  it('applies puts and deletes in revision order', () => {
    const store = new LeaseStore();
    expect(store.apply([{ type: 'put', key: 'a', value: '1', revision: 5 }])).toBe(true);
    expect(store.apply([{ type: 'put', key: 'a', value: '1', revision: 6 }])).toBe(false);
    expect(store.apply([{ type: 'delete', key: 'a', revision: 7 }])).toBe(true);
    expect(store.get('a')).toBeUndefined();
  });

  it('ignores a stale put after a newer delete (no resurrection)', () => {
    const store = new LeaseStore();
    store.apply([{ type: 'delete', key: 'a', revision: 10 }]);
    store.apply([{ type: 'put', key: 'a', value: 'old', revision: 9 }]);
    expect(store.get('a')).toBeUndefined();
  });

  it('a relist taken before a watched write does not roll it back', () => {
    const store = new LeaseStore();
    store.apply([{ type: 'put', key: 'a', value: 'new', revision: 20 }]);
    store.apply([{ type: 'put', key: 'b', value: 'b', revision: 21 }]);
    store.replaceAll([{ key: 'a', value: 'old', revision: 12 }], 15);
    expect(store.get('a')?.value).toBe('new');
    expect(store.get('b')?.value).toBe('b');
  });

  it('a relist removes keys it no longer lists and adds the ones it does', () => {
    const store = new LeaseStore();
    store.apply([{ type: 'put', key: 'gone', value: 'x', revision: 3 }]);
    const changed = store.replaceAll([{ key: 'new', value: 'y', revision: 8 }], 9);
    expect(changed).toBe(true);
    expect([...store.all()].map((l) => l.key)).toEqual(['new']);
  });

  it('a relist does not resurrect a key deleted after it was taken', () => {
    const store = new LeaseStore();
    store.apply([{ type: 'put', key: 'a', value: 'x', revision: 3 }]);
    store.apply([{ type: 'delete', key: 'a', revision: 12 }]);
    store.replaceAll([{ key: 'a', value: 'x', revision: 3 }], 10);
    expect(store.get('a')).toBeUndefined();
  });

  it('bumps its version only on change', () => {
    const store = new LeaseStore();
    const v0 = store.version;
    store.replaceAll([], 1);
    expect(store.version).toBe(v0);
    store.apply([{ type: 'put', key: 'a', value: 'x', revision: 2 }]);
    expect(store.version).toBe(v0 + 1);
  });

  it('journals the keys whose value came, changed or went, once each, until taken', () => {
    const store = new LeaseStore();
    store.apply([{ type: 'put', key: 'a', value: '1', revision: 1 }, { type: 'put', key: 'b', value: '1', revision: 2 }]);
    expect([...store.takeTouched()].sort()).toEqual(['a', 'b']);
    // A renewal rewrites the same value: nothing a consumer must look at again.
    store.apply([{ type: 'put', key: 'a', value: '1', revision: 3 }]);
    expect(store.takeTouched().size).toBe(0);
    store.apply([{ type: 'put', key: 'a', value: '2', revision: 4 }, { type: 'delete', key: 'b', revision: 5 }, { type: 'put', key: 'a', value: '3', revision: 6 }]);
    expect([...store.takeTouched()].sort()).toEqual(['a', 'b']);
    store.replaceAll([{ key: 'c', value: '1', revision: 7 }], 7);
    expect([...store.takeTouched()].sort()).toEqual(['a', 'c']);
    store.rebase([{ key: 'd', value: '1', revision: 1 }], 1);
    expect([...store.takeTouched()].sort()).toEqual(['c', 'd']);
  });
});
