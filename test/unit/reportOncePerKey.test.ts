import { ReportOncePerKey } from '../../src/util/reportOncePerKey.js';

describe('ReportOncePerKey', () => {
  it('reports a reason once while it lasts, again when it changes or returns', () => {
    const once = new ReportOncePerKey();
    const said: string[] = [];
    const say = ({ key, reason }: { key: string; reason: string }) => said.push(`${key}:${reason}`);
    once.update([{ key: 'a', reason: 'x' }], say);
    once.update([{ key: 'a', reason: 'x' }], say);
    once.update([{ key: 'a', reason: 'y' }], say);
    once.update([], say);
    once.update([{ key: 'a', reason: 'y' }], say);
    expect(said).toEqual(['a:x', 'a:y', 'a:y']);
  });
});
