/** JSON text the scanner could not read: where, and what it expected. */
export class JsonScanError extends Error {
  constructor(
    readonly position: number,
    what: string,
  ) {
    super(`malformed JSON at offset ${position}: ${what}`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
/** A JSON number, true, false or null, read where it starts. */
const SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * Reads a JSON document front to back and builds only the values its caller asks for; everything
 * else is stepped over without allocating. A kubelet's Node is about 15 KB of JSON of which weft
 * reads a few hundred bytes: JSON.parse of a 500-node list page builds some 25 MB of objects only
 * to drop them, and is five times slower than stepping over them.
 *
 * What is built goes through JSON.parse, so it is exactly as strict. What is stepped over is
 * checked for terminated strings, well-formed scalars and matching brackets, not for the rest of
 * the grammar (a missing comma inside a skipped object passes): its content is never read.
 */
export class JsonScanner {
  private pos = 0;

  constructor(private readonly text: string) {}

  /**
   * The object here, one member at a time: `member` gets each key and must consume its value
   * (with value(), skip(), object() or array()).
   */
  object(member: (key: string) => void): void {
    this.expect(OPEN_OBJECT, '{');
    if (this.peek() === CLOSE_OBJECT) {
      this.pos++;
      return;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail('an object key');
      const start = this.pos;
      const end = this.stringEnd(start);
      const raw = this.text.slice(start + 1, end - 1);
      this.pos = end;
      this.expect(COLON, ':');
      member(raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw);
      if (!this.more(CLOSE_OBJECT, '"," or "}"')) return;
    }
  }

  /** The array here: `element` is called once per element and must consume it. */
  array(element: () => void): void {
    this.expect(OPEN_ARRAY, '[');
    if (this.peek() === CLOSE_ARRAY) {
      this.pos++;
      return;
    }
    do element();
    while (this.more(CLOSE_ARRAY, '"," or "]"'));
  }

  /** The value here, built as JSON.parse builds it. */
  value(): unknown {
    const start = this.at();
    this.skip();
    try {
      return JSON.parse(this.text.slice(start, this.pos));
    } catch (err) {
      throw new JsonScanError(start, (err as Error).message);
    }
  }

  /** What the value here is, without reading it. */
  kind(): 'object' | 'array' | 'scalar' {
    const c = this.peek();
    return c === OPEN_OBJECT ? 'object' : c === OPEN_ARRAY ? 'array' : 'scalar';
  }

  /** Steps over the value here. */
  skip(): void {
    const text = this.text;
    let p = this.at();
    const first = text.charCodeAt(p);
    if (first === QUOTE) {
      this.pos = this.stringEnd(p);
      return;
    }
    if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) {
      SCALAR.lastIndex = p;
      if (!SCALAR.test(text)) this.fail('a value');
      this.pos = SCALAR.lastIndex;
      return;
    }
    const open: number[] = [];
    for (; p < text.length; p++) {
      const c = text.charCodeAt(p);
      if (c === QUOTE) {
        p = this.stringEnd(p) - 1;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        open.push(c);
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (open.pop() !== (c === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) {
          this.pos = p;
          this.fail('matching brackets');
        }
        if (open.length === 0) {
          this.pos = p + 1;
          return;
        }
      }
    }
    this.pos = text.length;
    this.fail(`${open.length} more closing bracket(s)`);
  }

  /** Nothing but whitespace may follow the document. */
  end(): void {
    if (this.at() !== this.text.length) this.fail('the end of the text');
  }

  /** Skips whitespace; the position of the next token. */
  private at(): number {
    const text = this.text;
    let p = this.pos;
    while (p < text.length && isWhitespace(text.charCodeAt(p))) p++;
    this.pos = p;
    return p;
  }

  private peek(): number {
    return this.text.charCodeAt(this.at());
  }

  private expect(c: number, what: string): void {
    if (this.peek() !== c) this.fail(`"${what}"`);
    this.pos++;
  }

  /** After a member or element: true at a comma (more follow), false at the closing bracket. */
  private more(close: number, what: string): boolean {
    const c = this.peek();
    if (c !== close && c !== COMMA) this.fail(what);
    this.pos++;
    return c === COMMA;
  }

  /** The string starting at `start` (its opening quote): the offset after its closing quote. */
  private stringEnd(start: number): number {
    const text = this.text;
    let from = start + 1;
    for (;;) {
      const quote = text.indexOf('"', from);
      if (quote < 0) {
        this.pos = start;
        this.fail('a terminated string');
      }
      let backslashes = 0;
      while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) return quote + 1;
      from = quote + 1;
    }
  }

  private fail(expected: string): never {
    const found = this.pos < this.text.length ? JSON.stringify(this.text.slice(this.pos, this.pos + 12)) : 'the end';
    throw new JsonScanError(this.pos, `expected ${expected}, found ${found}`);
  }
}
