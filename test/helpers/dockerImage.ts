import { cp, mkdir, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';

/** One COPY of the final stage: a file or directory of the local checkout and where the image has it. */
export interface ImageCopy {
  /** Relative to the repository root (after `npm run build`). */
  readonly source: string;
  /** Absolute path inside the image. */
  readonly target: string;
}

/** What the Dockerfile's final stage puts in the image on top of its base, and how it starts. */
export interface ImageSpec {
  readonly workdir: string;
  readonly copies: readonly ImageCopy[];
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
}

interface Stage {
  readonly name: string | undefined;
  workdir: string;
  /** COPY arguments with the WORKDIR in force when each was given. */
  readonly copyLines: Array<{ rest: string; workdir: string }>;
  entrypoint: string[];
  cmd: string[];
}

/** Instructions with their continuation lines joined, comments and blank lines dropped. */
function instructions(text: string): Array<{ keyword: string; rest: string }> {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), rest: rest.join(' ') };
    });
}

function execForm(instruction: string, rest: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    throw new Error(`Dockerfile ${instruction} ${rest}: only the exec (JSON array) form is modelled`);
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`Dockerfile ${instruction} ${rest}: not an array of strings`);
  return parsed;
}

/**
 * Reads the final stage of a multi-stage Dockerfile. A COPY --from=<stage> maps the stage's path
 * back into the checkout through the stage's WORKDIR: the build stages copy the checkout into
 * their WORKDIR and build there, so /src/dist/bundle is the local dist/bundle. Anything this
 * mapping cannot express is refused rather than guessed.
 */
export function parseDockerfile(text: string): ImageSpec {
  const stages: Stage[] = [];
  for (const { keyword, rest } of instructions(text)) {
    if (keyword === 'FROM') {
      const m = /^\S+(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!m) throw new Error(`Dockerfile FROM ${rest}: not understood`);
      stages.push({ name: m[1], workdir: '/', copyLines: [], entrypoint: [], cmd: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile ${keyword} before FROM`);
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, rest);
        break;
      case 'COPY':
        stage.copyLines.push({ rest, workdir: stage.workdir });
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = execForm(keyword, rest);
        // As Docker does: a new ENTRYPOINT resets a CMD inherited from the base image.
        stage.cmd = [];
        break;
      case 'CMD':
        stage.cmd = execForm(keyword, rest);
        break;
      case 'ENV':
      case 'USER':
      case 'VOLUME':
        throw new Error(`Dockerfile ${keyword} ${rest}: not modelled by the manifest harness`);
      default:
        // RUN installs the base packages the machine provides here; ARG, LABEL, EXPOSE and the
        // like change nothing a container sees at run time.
        break;
    }
  }
  const final = stages.at(-1);
  if (!final) throw new Error('Dockerfile has no FROM');
  const copies = final.copyLines.map(({ rest, workdir }) => finalStageCopy(rest, workdir, stages));
  return { workdir: final.workdir, copies, entrypoint: final.entrypoint, cmd: final.cmd };
}

function finalStageCopy(rest: string, workdir: string, stages: readonly Stage[]): ImageCopy {
  const words = rest.split(/\s+/);
  const from = /^--from=(\S+)$/.exec(words[0] ?? '')?.[1];
  const paths = from !== undefined ? words.slice(1) : words;
  if (paths.some((p) => p.startsWith('--'))) throw new Error(`Dockerfile COPY ${rest}: only --from is modelled`);
  if (paths.length !== 2 || paths[1]!.endsWith('/')) throw new Error(`Dockerfile COPY ${rest}: the final stage is modelled with one source and a full destination path per COPY`);
  const [source, target] = paths as [string, string];
  let checkoutPath = source;
  if (from !== undefined) {
    const origin = stages.find((s) => s.name === from);
    if (!origin) throw new Error(`Dockerfile COPY ${rest}: no stage named ${from}`);
    checkoutPath = posix.relative(origin.workdir, posix.resolve(origin.workdir, source));
    if (checkoutPath.startsWith('..')) throw new Error(`Dockerfile COPY ${rest}: ${source} lies outside stage ${from}'s WORKDIR ${origin.workdir}`);
  }
  return { source: posix.normalize(checkoutPath), target: posix.resolve(workdir, target) };
}

/**
 * Lays out the image's own files under `dir` (dir/weft/... for /weft/...) from the local build,
 * exactly the paths the final stage copies: a path the Dockerfile does not ship is absent.
 */
export async function layOutImage(spec: ImageSpec, repo: string, dir: string): Promise<void> {
  for (const copy of spec.copies) {
    const source = join(repo, copy.source);
    const info = await stat(source).catch(() => {
      throw new Error(`the Dockerfile copies ${copy.source}, which the local build has not made (run npm run build)`);
    });
    const target = join(dir, copy.target);
    await mkdir(info.isDirectory() ? target : dirname(target), { recursive: true });
    await cp(source, target, { recursive: true, preserveTimestamps: true });
  }
  await mkdir(join(dir, spec.workdir), { recursive: true });
}
