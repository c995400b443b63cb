import fc from 'fast-check';
import { JsonScanError, JsonScanner } from '../../src/util/jsonScanner.js';

/** Every value of the document, rebuilt through the scanner's object/array/value calls. */
function rebuild(scan: JsonScanner, depth: number): unknown {
  const kind = scan.kind();
  if (depth === 0 || kind === 'scalar') return scan.value();
  if (kind === 'object') {
    const out: Record<string, unknown> = {};
    scan.object((key) => {
      out[key] = rebuild(scan, depth - 1);
    });
    return out;
  }
  const out: unknown[] = [];
  scan.array(() => out.push(rebuild(scan, depth - 1)));
  return out;
}

function scanned(text: string, read: (scan: JsonScanner) => unknown): unknown {
  const scan = new JsonScanner(text);
  const result = read(scan);
  scan.end();
  return result;
}

const json = fc.jsonValue();
/** Escapes, unicode and whitespace between tokens: what a server might send. */
const texts = fc.tuple(json, fc.constantFrom(0, 2), fc.boolean()).map(([value, indent, asciiOnly]) => {
  const text = JSON.stringify(value, null, indent);
  return asciiOnly ? text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
});

describe('JsonScanner', () => {
  it('builds exactly what JSON.parse builds, at any depth of descent', () => {
    fc.assert(
      fc.property(texts, fc.integer({ min: 0, max: 4 }), (text, depth) => {
        expect(scanned(text, (scan) => rebuild(scan, depth))).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('steps over any valid document to its end', () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(() => scanned(text, (scan) => scan.skip())).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('picks one member and skips the rest', () => {
    const text = JSON.stringify({ status: { images: [{ names: ['a"b\\', 'c}]{'], sizeBytes: 1e9 }] }, metadata: { name: 'n1', 'odd\\"key': 1 }, spec: null });
    const picked = scanned(text, (scan) => {
      let name: unknown;
      scan.object((key) => (key === 'metadata' ? scan.object((field) => (field === 'name' ? (name = scan.value()) : scan.skip())) : scan.skip()));
      return name;
    });
    expect(picked).toBe('n1');
  });

  it('decodes escaped keys', () => {
    const keys: string[] = [];
    scanned('{"a\\"b":1,"\\u00e9":2}', (scan) => scan.object((key) => (keys.push(key), scan.skip())));
    expect(keys).toEqual(['a"b', 'é']);
  });

  it('rejects any truncated document, whether built or stepped over', () => {
    fc.assert(
      fc.property(
        json.filter((v) => typeof v === 'object' && v !== null),
        fc.nat(),
        (value, cut) => {
          const text = JSON.stringify(value);
          const prefix = text.slice(0, cut % text.length);
          expect(() => scanned(prefix, (scan) => scan.skip())).toThrow(JsonScanError);
          expect(() => scanned(prefix, (scan) => rebuild(scan, 3))).toThrow(JsonScanError);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['mismatched brackets in a skipped value', '{"a":[1,2}}', (scan: JsonScanner) => scan.skip()],
    ['a bad scalar in a skipped member', '{"a":tru,"b":1}', (scan: JsonScanner) => scan.object(() => scan.skip())],
    ['a bad value that is built', '{"a":"\\x"}', (scan: JsonScanner) => scan.object(() => scan.value())],
    ['a missing colon', '{"a" 1}', (scan: JsonScanner) => scan.object(() => scan.skip())],
    ['a missing comma', '[1 2]', (scan: JsonScanner) => scan.array(() => scan.skip())],
    ['text after the document', '{} {}', (scan: JsonScanner) => scan.skip()],
    ['an object where an array is read', '{"a":1}', (scan: JsonScanner) => scan.array(() => scan.skip())],
  ])('rejects %s, naming the offset', (_, text, read) => {
    expect(() => scanned(text, read)).toThrow(/malformed JSON at offset \d+/);
  });
});
