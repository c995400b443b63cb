import { readFileSync } from 'node:fs';
import { CniCode, CniError } from './cniError.js';
import { runCni } from './plugin.js';

/**
 * The CNI plugin executable (type `flannel`, also installed as `weft`): one command per process,
 * the result or a spec error object on stdout, exit 1 on error.
 */
function main(): void {
  let cniVersion = '1.0.0';
  try {
    const output = runCni(process.env, () => {
      const text = readFileSync(0, 'utf8');
      try {
        const v = (JSON.parse(text) as { cniVersion?: unknown }).cniVersion;
        if (typeof v === 'string') cniVersion = v;
      } catch {
        // parseNetConf reports it
      }
      return text;
    });
    if (output !== '') process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
  } catch (err) {
    const error = err instanceof CniError ? err : new CniError(CniCode.IoFailure, (err as Error).message);
    process.stdout.write(`${error.toJson(cniVersion)}\n`);
    process.exitCode = 1;
  }
}

main();
