// Builds the agent into dist/bundle. The CNI plugin is Go and has its own build,
// hack/build-cni.sh.
//
//   weft.mjs                the executable: its shebang carries the memory settings, and it runs
//                           agent.cjs through vm.Script with a V8 code cache (src/cli/launcher.ts)
//   agent.cjs               the agent, one self-contained CommonJS file
//   *.cjs.cache             V8 code caches, written by running weft.mjs once at the end of the build
//   kubernetes-client.cjs   the part of @kubernetes/client-node weft uses, required only in
//                           --kube-subnet-mgr mode
//
// One file instead of hundreds under node_modules roughly halves process start-up (0.35 s
// instead of 0.6 s here), and the code cache takes off about 100 ms more: that start-up is most
// of the time to a first subnet.env. etcd3 loads its gRPC definitions from ../proto relative to
// its own code at run time, so they are copied to dist/proto, which is where the bundle's
// __dirname points them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, rm } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable
  // (and --enable-source-maps maps them back). It also drops comments, two of which held
  // non-ASCII characters that made V8 keep the whole source as a two-byte string (4.3 MB).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
};

/** The agent and the Kubernetes client: CommonJS, because Node 20 only code-caches classic scripts. */
const commonJs = { ...common, outdir: 'dist/bundle', outExtension: { '.js': '.cjs' }, format: 'cjs' };

/**
 * The Kubernetes client is most of the code weft depends on, and etcd mode never needs it. It is
 * its own file, required where weft's Kubernetes modules first run, so it costs etcd mode nothing
 * at start-up and no memory for its source text.
 */
const kubernetesClientApart = {
  name: 'kubernetes-client-apart',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/kubernetesClient\.js$/ }, () => ({ path: './kubernetes-client.cjs', external: true }));
  },
};

await Promise.all(['dist/bundle', 'dist/proto'].map((dir) => rm(dir, { recursive: true, force: true })));
await mkdir('dist/bundle', { recursive: true });
await Promise.all([
  build({
    ...commonJs,
    entryPoints: { agent: 'src/cli/main.ts' },
    // CommonJS has no import.meta; the launcher passes the bundle's real __filename.
    define: { 'import.meta.url': '__weftModuleUrl' },
    banner: { js: "const __weftModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [kubernetesClientApart],
  }),
  build({ ...commonJs, entryPoints: { 'kubernetes-client': 'src/subnet/kube/kubernetesClient.ts' } }),
  build({
    ...common,
    entryPoints: { weft: 'src/cli/launcher.ts' },
    outdir: 'dist/bundle',
    outExtension: { '.js': '.mjs' },
    format: 'esm',
    sourcemap: false,
  }),
]);
await cp('node_modules/etcd3/proto', 'dist/proto', { recursive: true });
await chmod('dist/bundle/weft.mjs', 0o755);
// Run once through the shebang, so the cache is made by this Node binary with the agent's flags,
// the two things V8 checks before it uses a cache.
execFileSync('dist/bundle/weft.mjs', ['--version'], { env: { ...process.env, WEFT_CODE_CACHE: 'write' }, stdio: 'ignore' });
