import { readFile } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../../util/errors.js';

/** net-conf.json comes from a mounted ConfigMap: a missing or invalid file is a deployment error. */
export async function readNetConfigFile<C>(path: string, parse: (json: string, source: string) => C): Promise<C> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--net-config-path', path, `cannot be read: ${errorMessage(err)}`);
  }
  return parse(text, path);
}
