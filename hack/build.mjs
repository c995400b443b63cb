// Builds the agent as one self-contained ES module, dist/bundle/weft.mjs. The CNI plugin is Go
// and has its own build, hack/build-cni.sh.
//
// One file instead of hundreds under node_modules roughly halves process start-up (0.35 s
// instead of 0.6 s here), and that start-up is most of the time to a first subnet.env. etcd3
// loads its gRPC definitions from ../proto relative to its own code at run time, so they are
// copied to dist/proto, which is where the bundle's __dirname points them.
import { build } from 'esbuild';
import { chmod, cp, mkdir, rm } from 'node:fs/promises';

const banner = [
  "import { createRequire as __weftRequire } from 'node:module';",
  "import { fileURLToPath as __weftPath } from 'node:url';",
  'const require = __weftRequire(import.meta.url);',
  'const __filename = __weftPath(import.meta.url);',
  "const __dirname = __weftPath(new URL('.', import.meta.url));",
].join(' ');

await Promise.all(['dist/bundle', 'dist/proto'].map((dir) => rm(dir, { recursive: true, force: true })));
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
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable
  // (and --enable-source-maps maps them back). It also drops comments, two of which held
  // non-ASCII characters that made V8 keep the whole source as a two-byte string (4.3 MB).
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: banner },
  logLevel: 'warning',
});
await cp('node_modules/etcd3/proto', 'dist/proto', { recursive: true });
await chmod('dist/bundle/weft.mjs', 0o755);

