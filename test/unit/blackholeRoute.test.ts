import { BLACKHOLE_METRIC, parseBlackholeRoutes, planBlackholeRoutes } from '../../src/kernel/blackholeRoute.js';
import { cidr } from '../helpers/cidr.js';

const network = cidr('10.244.0.0/16');
const suffix = `proto 87 metric ${BLACKHOLE_METRIC}`;

describe('--ip-blackhole-route planning', () => {
  it("adds a blackhole route for the node's subnet, below the bridge's own route", () => {
    expect(planBlackholeRoutes([], cidr('10.244.3.0/24'), network)).toEqual([`route replace blackhole 10.244.3.0/24 ${suffix}`]);
    expect(BLACKHOLE_METRIC).toBeGreaterThan(0);
  });

  it('changes nothing when it is in place', () => {
    expect(planBlackholeRoutes(['10.244.3.0/24'], cidr('10.244.3.0/24'), network)).toEqual([]);
  });

  it("moves with the subnet, and leaves another network's blackhole alone", () => {
    expect(planBlackholeRoutes(['10.244.3.0/24', '10.99.1.0/24'], cidr('10.244.7.0/24'), network)).toEqual([
      `route del blackhole 10.244.3.0/24 ${suffix}`,
      `route replace blackhole 10.244.7.0/24 ${suffix}`,
    ]);
  });

  it('reads destinations from ip -j route show type blackhole', () => {
    expect(parseBlackholeRoutes([{ type: 'blackhole', dst: '10.244.3.0/24', protocol: '87' }, { type: 'blackhole', dst: '10.1.1.1' }, {}])).toEqual([
      '10.244.3.0/24',
      '10.1.1.1/32',
    ]);
    expect(parseBlackholeRoutes('nope')).toEqual([]);
  });
});
