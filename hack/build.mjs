// Builds the agent as one self-contained ES module, dist/bundle/weft.mjs, and the CNI plugin as a
// single executable, dist/cni/flannel (also dist/cni/weft).
//
// One file instead of hundreds under node_modules roughly halves process start-up (0.35 s
// instead of 0.6 s here), and that start-up is most of the time to a first subnet.env. etcd3
// loads its gRPC definitions from ../proto relative to its own code at run time, so they are
// copied to dist/proto, which is where the bundle's __dirname points them.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, cp, link, mkdir, rm, writeFile } from 'node:fs/promises';

const banner = [
  "import { createRequire as __weftRequire } from 'node:module';",
  "import { fileURLToPath as __weftPath } from 'node:url';",
  'const require = __weftRequire(import.meta.url);',
  'const __filename = __weftPath(import.meta.url);',
  "const __dirname = __weftPath(new URL('.', import.meta.url));",
].join(' ');

await rm('dist', { recursive: true, force: true });
await mkdir('dist/bundle', { recursive: true });
// The Kubernetes client is loaded only in --kube-subnet-mgr mode (a dynamic import): split into
// its own chunk, it costs etcd-mode start-up nothing.
await build({
  entryPoints: { weft: 'src/cli/main.ts' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  banner: { js: banner },
  logLevel: 'warning',
});
await cp('node_modules/etcd3/proto', 'dist/proto', { recursive: true });
await chmod('dist/bundle/weft.mjs', 0o755);

// The CNI plugin runs on hosts that have no Node.js: a Node single executable application
// (the node binary with the bundled plugin injected), installed as `flannel` and as `weft`.
await mkdir('dist/cni', { recursive: true });
await build({
  entryPoints: ['src/cni/main.ts'],
  outfile: 'dist/cni/plugin.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
});
await writeFile(
  'dist/cni/sea-config.json',
  JSON.stringify({ main: 'dist/cni/plugin.cjs', output: 'dist/cni/plugin.blob', disableExperimentalSEAWarning: true, useCodeCache: true }),
);
execFileSync(process.execPath, ['--experimental-sea-config', 'dist/cni/sea-config.json'], { stdio: 'ignore' });
await copyFile(process.execPath, 'dist/cni/flannel');
execFileSync(
  'node_modules/.bin/postject',
  ['dist/cni/flannel', 'NODE_SEA_BLOB', 'dist/cni/plugin.blob', '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'],
  { stdio: 'ignore' },
);
await chmod('dist/cni/flannel', 0o755);
await link('dist/cni/flannel', 'dist/cni/weft');
await Promise.all(['plugin.blob', 'sea-config.json'].map((f) => rm(`dist/cni/${f}`)));
