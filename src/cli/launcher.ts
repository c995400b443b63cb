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
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./agent.cjs', import.meta.url));
const cacheFile = `${bundle}.cache`;

function readCodeCache(): Buffer | undefined {
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

// The same wrapper as Node's own CommonJS loader, on the bundle's first line so that line numbers
// in stack traces stay right.
const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${readFileSync(bundle, 'utf8')}\n})`, {
  filename: bundle,
  cachedData: readCodeCache(),
});

// WEFT_CODE_CACHE is for the build and its tests: `write` stores the cache when the process
// exits (after a run has compiled what start-up needs), `report` says whether V8 took it.
const codeCacheMode = process.env['WEFT_CODE_CACHE'];
if (codeCacheMode === 'write') process.once('exit', () => writeFileSync(cacheFile, script.createCachedData()));
if (codeCacheMode === 'report') process.stderr.write(`code cache ${script.cachedDataRejected === false ? 'accepted' : 'not used'}\n`);

const module = { exports: {} };
const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
run(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
