#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=2
// The agent's memory settings live in this line, so that every way of starting it (the image's
// entrypoint, the npm bin, the tests) gets them. Node's default 16 MB semi-spaces stay committed
// after the first reconcile's burst of allocation (32 MB of RSS for 1 MB of live young objects),
// and glibc's per-thread malloc arenas hold on to freed memory too. Fixed malloc thresholds stop
// glibc from raising them after the first large free, which left every resync's multi-megabyte
// command output in the heap for good. The figures are in docs/benchmarks.md, "Memory".
//
// This file is dist/bundle/weft.mjs. It runs the agent's bundle, agent.cjs, through vm.Script
// with the V8 code cache that the build wrote next to it, so that a start skips compiling the
// bundle: about 100 ms of every agent start (docs/benchmarks.md, "Convergence"). Node 20 has no
// code cache for ES modules, which is why the bundle is CommonJS. A cache that does not match
// this Node binary or its flags is rejected by V8, and the bundle is compiled as usual.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundleDir = dirname(fileURLToPath(import.meta.url));
/** The Kubernetes client, which the bundle requires only in Kubernetes mode (hack/build.mjs). */
const KUBERNETES_CLIENT = './kubernetes-client.cjs';

// WEFT_CODE_CACHE is for the build and its tests: `write` stores each file's cache when the
// process exits (after a run has compiled what start-up needs), `report` says whether V8 took
// the agent's.
const codeCacheMode = process.env['WEFT_CODE_CACHE'];

function readCodeCache(cacheFile: string): Buffer | undefined {
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

/** Runs one CommonJS file of dist/bundle, compiled with its code cache, and returns its exports. */
function load(name: string): unknown {
  const file = join(bundleDir, name);
  const cacheFile = `${file}.cache`;
  // The same wrapper as Node's own CommonJS loader, on the file's first line so that line
  // numbers in stack traces stay right.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'utf8')}\n})`, {
    filename: file,
    cachedData: readCodeCache(cacheFile),
  });
  if (codeCacheMode === 'write') process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()));
  if (codeCacheMode === 'report' && name === 'agent.cjs') {
    process.stderr.write(`code cache ${script.cachedDataRejected === false ? 'accepted' : 'not used'}\n`);
  }
  const module = { exports: {} };
  const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  run(module.exports, bundleRequire, module, file, bundleDir);
  return module.exports;
}

const nodeRequire = createRequire(join(bundleDir, 'agent.cjs'));
let kubernetesClient: unknown;
/** Node's require, except that the Kubernetes client is loaded once, with its code cache. */
const bundleRequire = Object.assign((id: string): unknown => {
  if (id !== KUBERNETES_CLIENT) return nodeRequire(id);
  kubernetesClient ??= load(basename(KUBERNETES_CLIENT));
  return kubernetesClient;
}, nodeRequire);

// The build's run never reaches Kubernetes mode, so it loads the client itself to cache it too.
if (codeCacheMode === 'write') bundleRequire(KUBERNETES_CLIENT);
load('agent.cjs');
