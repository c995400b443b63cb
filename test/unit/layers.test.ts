import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Imports run one way (docs/architecture.md, "Layers"): a module may import its own layer or a
 * lower one, never a higher one. Type-only imports count too: a type is a dependency.
 */
const LAYERS: Record<string, number> = {
  cli: 5,
  agent: 4,
  status: 4,
  backend: 3,
  subnet: 2,
  config: 2,
  kernel: 1,
  net: 1,
  iptables: 1,
  nftables: 1,
  util: 0,
};

const SRC = resolve(fileURLToPath(new URL('../../src', import.meta.url)));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(file: string): string {
  const top = relative(SRC, file).split('/')[0] ?? '';
  return top;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => resolve(dirname(file), (m[1] ?? m[2]) as string).replace(/\.js$/, '.ts'));
}

describe('layering of src/', () => {
  const files = sourceFiles(SRC);

  it('puts every module in a known layer', () => {
    const unknown = files.filter((f) => LAYERS[layerOf(f)] === undefined).map((f) => relative(SRC, f));
    expect(unknown).toEqual([]);
  });

  it('has no import from a lower layer to a higher one', () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const target of importsOf(file)) {
        const to = layerOf(target);
        if ((LAYERS[to] ?? -1) > (LAYERS[from] ?? -1)) upward.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('sees the imports it checks (the check itself works)', () => {
    const agent = importsOf(join(SRC, 'agent', 'agent.ts')).map((t) => relative(SRC, t));
    expect(agent).toContain('backend/registry.ts');
    expect(agent).toContain('agent/reconciler.ts');
    const status = importsOf(join(SRC, 'status', 'collectStatus.ts')).map((t) => relative(SRC, t));
    expect(status).toContain('subnet/kube/index.ts');
  });

  it('keeps the datastore layer free of backend knowledge', () => {
    const intoBackend = files
      .filter((f) => layerOf(f) === 'subnet')
      .flatMap((f) => importsOf(f).filter((t) => layerOf(t) === 'backend').map((t) => `${relative(SRC, f)} -> ${relative(SRC, t)}`));
    expect(intoBackend).toEqual([]);
  });
});
