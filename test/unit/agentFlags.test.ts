import { FlagError } from '../../src/util/errors.js';
import { AGENT_FLAGS, envNameFor, normalizeGoStyleArgs } from '../../src/cli/agentFlags.js';
import { asksForVersion, parseAgentArgs } from '../../src/cli/program.js';

describe('weft agent flags', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (key.startsWith('FLANNELD_')) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it("uses Flannel's defaults", () => {
    const options = parseAgentArgs([]);
    expect(options.etcd.endpoints).toEqual(['http://127.0.0.1:4001', 'http://127.0.0.1:2379']);
    expect(options.etcd.prefix).toBe('/coreos.com/network');
    expect(options.subnetFile).toBe('/run/flannel/subnet.env');
    expect(options.subnetLeaseRenewMarginMinutes).toBe(60);
    expect(options.ipMasq).toBe(false);
    expect(options.iptablesForwardRules).toBe(true);
    expect(options.iptablesResyncSeconds).toBe(5);
    expect(options.healthzIp).toBe('0.0.0.0');
    expect(options.healthzPort).toBe(0);
    expect(options.kubeSubnetMgr).toBe(false);
    expect(options.kubeAnnotationPrefix).toBe('flannel.alpha.coreos.com');
    expect(options.netConfigPath).toBe('/etc/kube-flannel/net-conf.json');
    expect(options.iface).toEqual([]);
    expect(options.ipMasqFullyRandomDisable).toBe(false);
    expect(options.ipBlackholeRoute).toBe(false);
    expect(options.setNodeNetworkUnavailable).toBe(true);
  });

  it("takes Flannel v0.28's --ip-blackhole-route, --set-node-network-unavailable and --ip-masq-fully-random-disable, and their FLANNELD_* variables", () => {
    const flags = parseAgentArgs(['--ip-blackhole-route', '-set-node-network-unavailable=false', '--ip-masq-fully-random-disable=true']);
    expect([flags.ipBlackholeRoute, flags.setNodeNetworkUnavailable, flags.ipMasqFullyRandomDisable]).toEqual([true, false, true]);
    process.env['FLANNELD_IP_BLACKHOLE_ROUTE'] = 'true';
    process.env['FLANNELD_SET_NODE_NETWORK_UNAVAILABLE'] = 'false';
    process.env['FLANNELD_IP_MASQ_FULLY_RANDOM_DISABLE'] = '1';
    const env = parseAgentArgs([]);
    expect([env.ipBlackholeRoute, env.setNodeNetworkUnavailable, env.ipMasqFullyRandomDisable]).toEqual([true, false, true]);
  });

  it('answers --version (any spelling) before anything else', () => {
    expect(asksForVersion(['--version'])).toBe(true);
    expect(asksForVersion(['--etcd-prefix', 'bad', '-version'])).toBe(true);
    expect(asksForVersion(['--iface', 'eth0'])).toBe(false);
  });

  it('maps every flag to FLANNELD_<NAME>', () => {
    expect(envNameFor('etcd-endpoints')).toBe('FLANNELD_ETCD_ENDPOINTS');
    expect(envNameFor('subnet-lease-renew-margin')).toBe('FLANNELD_SUBNET_LEASE_RENEW_MARGIN');
    expect(AGENT_FLAGS.map((f) => f.name)).toEqual(expect.arrayContaining(['iface', 'ip-masq', 'kube-subnet-mgr', 'public-ip']));
  });

  it('reads FLANNELD_* variables, and a flag on the command line wins', () => {
    process.env['FLANNELD_ETCD_PREFIX'] = '/from/env';
    process.env['FLANNELD_IP_MASQ'] = 'true';
    process.env['FLANNELD_IFACE'] = 'eth1';
    process.env['FLANNELD_SUBNET_LEASE_RENEW_MARGIN'] = '30';
    const fromEnv = parseAgentArgs([]);
    expect(fromEnv.etcd.prefix).toBe('/from/env');
    expect(fromEnv.ipMasq).toBe(true);
    expect(fromEnv.iface).toEqual(['eth1']);
    expect(fromEnv.subnetLeaseRenewMarginMinutes).toBe(30);
    const overridden = parseAgentArgs(['--etcd-prefix', '/from/flag', '--ip-masq=false', '--iface', 'eth2']);
    expect(overridden.etcd.prefix).toBe('/from/flag');
    expect(overridden.ipMasq).toBe(false);
    expect(overridden.iface).toEqual(['eth2']);
  });

  it('accepts repeated --iface and Go-style spellings', () => {
    const options = parseAgentArgs(['-iface=eth0', '--iface', '10.0.0.5', '-v=2', '--iptables-forward-rules=false', '--ip-masq']);
    expect(options.iface).toEqual(['eth0', '10.0.0.5']);
    expect(options.verbosity).toBe(2);
    expect(options.iptablesForwardRules).toBe(false);
    expect(options.ipMasq).toBe(true);
  });

  it('leaves unknown single-dash words alone', () => {
    expect(normalizeGoStyleArgs(['-iface', 'eth0', '-bogus'])).toEqual(['--iface', 'eth0', '-bogus']);
  });

  it.each([
    [['--no-such-flag'], /no-such-flag/],
    [['--subnet-lease-renew-margin', '0'], /subnet-lease-renew-margin.*'0'.*1\.\.1439/],
    [['--subnet-lease-renew-margin', '1440'], /'1440'/],
    [['--public-ip', '300.1.1.1'], /public-ip.*300\.1\.1\.1/],
    [['--iface-regex', '(['], /iface-regex.*\(\[/],
    [['--etcd-endpoints', 'ftp://x'], /etcd-endpoints.*ftp/],
    [['--etcd-endpoints', 'http://a:2379,https://b:2379'], /mix/],
    [['--etcd-prefix', 'relative'], /etcd-prefix.*relative/],
    [['--healthz-port', '70000'], /healthz-port.*70000/],
    [['--ip-masq=maybe'], /ip-masq.*maybe/],
    [['--etcd-certfile', '/c.pem', '--etcd-endpoints', 'https://a:2379'], /etcd-keyfile and --etcd-certfile/],
    [['--etcd-cafile', '/ca.pem'], /need https/],
    [['--kube-annotation-prefix', 'Bad_Prefix!'], /kube-annotation-prefix.*Bad_Prefix!/],
    [['stray'], /too many arguments|stray/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseAgentArgs(argv)).toThrow(FlagError);
    expect(() => parseAgentArgs(argv)).toThrow(message);
  });

  it('rejects a bad FLANNELD_* value naming the variable', () => {
    process.env['FLANNELD_HEALTHZ_PORT'] = 'eighty';
    expect(() => parseAgentArgs([])).toThrow(/FLANNELD_HEALTHZ_PORT/);
  });
});
