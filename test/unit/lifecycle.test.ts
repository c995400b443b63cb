import { describe, expect, it } from '@jest/globals';
import { ManagerLifecycle } from '../../src/subnet/lifecycle.js';

describe('ManagerLifecycle.close', () => {
  it('gives up on a step that never finishes once the bound is spent, and still runs the later ones', async () => {
    const lifecycle = new ManagerLifecycle(50);
    const ran: string[] = [];
    // Reverse order of registration: the hanging step runs first, as the watch cancel does.
    lifecycle.onClose(() => void ran.push('client closed'));
    lifecycle.onClose(() => new Promise<void>(() => ran.push('waiting on etcd')));
    const started = Date.now();
    await lifecycle.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(ran).toEqual(['waiting on etcd', 'client closed']);
    expect(lifecycle.closed).toBe(true);
  });

  it('does not let a failing step keep the others from running', async () => {
    const lifecycle = new ManagerLifecycle(50);
    const ran: string[] = [];
    lifecycle.onClose(() => void ran.push('client closed'));
    lifecycle.onClose(() => Promise.reject(new Error('cancel failed')));
    await lifecycle.close();
    expect(ran).toEqual(['client closed']);
  });
});
