import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { PeriodicSync } from '../../src/kernel/periodicSync.js';
import { silentLogger } from '../../src/util/log.js';

/** A keeper whose sync only counts, fails on demand and can be held open. */
class CountingSync extends PeriodicSync {
  runs = 0;
  failNext = false;
  hold: Promise<void> | undefined;

  constructor(period: { ms: number }) {
    super({ what: 'test', periodMs: () => period.ms, retryMs: 1_000, logger: silentLogger() });
  }

  protected async syncOnce(): Promise<void> {
    this.runs++;
    await this.hold;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('boom');
    }
  }
}

describe('PeriodicSync', () => {
  const keepers: CountingSync[] = [];
  const keeper = (period: { ms: number }): CountingSync => {
    const k = new CountingSync(period);
    keepers.push(k);
    return k;
  };

  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(async () => {
    for (const k of keepers.splice(0)) await k.stop();
    jest.useRealTimers();
  });

  it('syncs at start, then after each period of quiet, reading the period anew each time', async () => {
    const period = { ms: 5_000 };
    const k = keeper(period);
    await k.start();
    expect(k.runs).toBe(1);
    await jest.advanceTimersByTimeAsync(5_000);
    expect(k.runs).toBe(2);
    period.ms = 600_000;
    await jest.advanceTimersByTimeAsync(5_000);
    expect(k.runs).toBe(3);
    await jest.advanceTimersByTimeAsync(599_000);
    expect(k.runs).toBe(3);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(k.runs).toBe(4);
  });

  it('runs exactly one more sync for any number of calls during a sync, and restarts the period after it', async () => {
    const k = keeper({ ms: 600_000 });
    await k.start();
    let release: () => void = () => undefined;
    k.hold = new Promise((resolve) => (release = resolve));
    const first = k.sync();
    const joined = [k.sync(), k.sync(), k.sync()];
    k.hold = undefined;
    release();
    await Promise.all([first, ...joined]);
    expect(k.runs).toBe(3);
    await jest.advanceTimersByTimeAsync(599_999);
    expect(k.runs).toBe(3);
  });

  it('tries a failed sync again after retryMs, however long the period', async () => {
    const k = keeper({ ms: 600_000 });
    k.failNext = true;
    await k.start();
    expect(k.runs).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(k.runs).toBe(2);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(k.runs).toBe(2);
  });

  it('syncs no more once stopped', async () => {
    const k = keeper({ ms: 1_000 });
    await k.start();
    await k.stop();
    await k.sync();
    await jest.advanceTimersByTimeAsync(10_000);
    expect(k.runs).toBe(1);
  });
});
